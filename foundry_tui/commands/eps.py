"""`eps`: the execution providers the runtime discovers here, and registering them (download + register)."""

from __future__ import annotations

import argparse
import sys
import threading

from foundry_tui.commands.output import print_json, table
from foundry_tui.engine.session import Session
from foundry_tui.engine.variants import CPU_EP
from foundry_tui.errors import BackendError, NotSupportedError
from foundry_tui.text import safe_line


def run_eps(session: Session, args: argparse.Namespace) -> int:
    eps = session.execution_providers()
    if eps is None:
        raise NotSupportedError("execution providers belong to the in-process runtime, not to an endpoint")
    if args.register is None:
        if args.json:
            print_json(
                {
                    "built_in": [CPU_EP],
                    "execution_providers": [{"name": ep.name, "registered": ep.registered} for ep in eps],
                }
            )
            return 0
        print(f"built in: {CPU_EP}")
        if not eps:
            print("no other execution provider is discoverable on this machine")
            return 0
        print(
            table(
                ["EXECUTION PROVIDER", "STATE"],
                [[ep.name, "registered" if ep.registered else "discoverable"] for ep in eps],
            )
        )
        if any(not ep.registered for ep in eps):
            print("register one with `foundry-tui eps --register NAME` (or all with `--register`)")
        return 0
    names = list(args.register) or None
    if names is None and not any(not ep.registered for ep in eps):
        print("nothing to register: every discoverable execution provider is registered already", file=sys.stderr)
        return 0
    lock = threading.Lock()
    last: dict[str, int] = {}

    def progress(name: str, percent: float) -> None:
        step = int(percent // 10)
        with lock:
            if last.get(name, -1) < step:
                last[name] = step
                print(f"{safe_line(name)}: {percent:5.1f} %", file=sys.stderr)

    result = session.register_execution_providers(names, progress)
    if args.json:
        print_json({"registered": list(result.registered), "failed": list(result.failed)})
    else:
        print(f"registered: {', '.join(result.registered) or 'none new'}")
    if result.failed:
        raise BackendError(f"could not register {', '.join(result.failed)} (the native log has the details)")
    return 0
