"""The headless commands. Each takes parsed arguments and the engine session, prints, and returns an exit code."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from foundry_tui.config import Settings, load_settings
from foundry_tui.engine.session import Session
from foundry_tui.native_logs import redirect_native_stderr


def settings_from_args(args: argparse.Namespace) -> Settings:
    names = ("endpoint", "cache_dir", "data_dir", "api_key", "catalog_url", "catalog_region")
    flags: dict[str, Any] = {name: getattr(args, name, None) for name in names}
    flags["max_tokens"] = getattr(args, "max_tokens", None)
    flags["temperature"] = getattr(args, "temperature", None)
    config = getattr(args, "config", None)
    return load_settings(flags, config_file=Path(config) if config else None)


@contextmanager
def open_session(settings: Settings, *, read_only: bool = False) -> Iterator[Session]:
    """The engine session on the configured backend; the in-process runtime's native logs go to a file, never
    the terminal. `read_only`: the command loads nothing and downloads nothing, so the process may exit
    without the runtime's one-second orderly shutdown (see `cli.main`)."""
    if not settings.endpoint:
        redirect_native_stderr(settings.logs_dir / "native.log")
    session = Session(settings)  # the backend opens on first use: bad input fails before the runtime starts
    try:
        yield session
    finally:
        session.close(release_runtime=not read_only)


READ_ONLY = {"models", "cache", "eps"}


def is_read_only(args: argparse.Namespace) -> bool:
    """Commands that only list: nothing loaded, nothing downloading, so nothing for a shutdown to drain."""
    if args.command not in READ_ONLY:
        return False
    if args.command == "cache":
        return getattr(args, "cache_command", None) in ("list", "location")
    if args.command == "eps":
        return not getattr(args, "register", None)
    return True


def run_tui(args: argparse.Namespace) -> int:
    """No command: open the TUI on the configured backend."""
    settings = settings_from_args(args)
    if not settings.endpoint:
        redirect_native_stderr(settings.logs_dir / "native.log")
    from foundry_tui.tui.app import FoundryTuiApp

    FoundryTuiApp(settings).run()
    return 0


def run_command(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    if args.command == "doctor":
        from foundry_tui.commands.doctor import run_doctor

        return run_doctor(settings, as_json=args.json)
    if args.command == "monitor":
        from foundry_tui.commands.monitor import run_monitor

        return run_monitor(settings, args)  # needs no runtime: it samples this machine, or replays a file
    if args.command == "report":
        from foundry_tui.commands.report import run_report

        return run_report(settings, args)  # reads files only: no runtime
    if args.command in ("bench", "compare"):
        from foundry_tui.commands.bench import run_bench
        from foundry_tui.commands.compare import run_compare

        return run_bench(settings, args) if args.command == "bench" else run_compare(args)
    with open_session(settings, read_only=is_read_only(args)) as session:
        if args.command == "import":
            from foundry_tui.commands.import_model import run_import

            return run_import(session, args)  # checks its arguments before the runtime starts
        if args.command == "models":
            from foundry_tui.commands.models import run_models

            return run_models(session, args)
        if args.command == "register":
            from foundry_tui.commands.models import run_register

            return run_register(session, args)
        if args.command == "unregister":
            from foundry_tui.commands.models import run_unregister

            return run_unregister(session, args.model_id)
        if args.command == "download":
            from foundry_tui.commands.cache import run_download

            return run_download(session, args)
        if args.command == "cache":
            from foundry_tui.commands.cache import run_cache

            return run_cache(session, args)
        if args.command == "eps":
            from foundry_tui.commands.eps import run_eps

            return run_eps(session, args)
        if args.command == "chat":
            from foundry_tui.commands.chat import run_chat

            return run_chat(session, args)
    raise AssertionError(f"unhandled command {args.command}")
