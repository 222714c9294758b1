"""CLI: start the fake Foundry cloud and serve until Ctrl-C.

    python -m foundry_tui.devtools.fake_cloud [--workdir DIR] [--catalog-port N] [--blob-delay S]

Prints the ``export`` lines that point foundry-tui (and its runtime) at it.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import tempfile
import threading
from pathlib import Path

from foundry_tui.devtools.fake_cloud.server import FakeCloud


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m foundry_tui.devtools.fake_cloud", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--workdir", type=Path, help="where the tiny model and the TLS files go (default: a temp dir)")
    parser.add_argument("--catalog-port", type=int, default=0, help="catalog port (default: any free port)")
    parser.add_argument("--blob-delay", type=float, default=0.0, help="seconds before each 2 MiB chunk is answered")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="foundry-fake-cloud-"))
    cloud = FakeCloud(workdir, catalog_port=args.catalog_port)
    cloud.knobs.blob_delay_s = args.blob_delay
    with cloud:
        downloadable = sorted({m.alias for m in cloud.models if m.downloadable})
        print(f"# fake Foundry cloud: {len(cloud.models)} catalog entries, downloadable: {', '.join(downloadable)}")
        print(f"# registry {cloud.registry_url} (TLS), blobs {cloud.blob_url}, workdir {workdir}")
        for name, value in cloud.env().items():
            print(f"export {name}={shlex.quote(value)}")
        print("# serving until Ctrl-C", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
