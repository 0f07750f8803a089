"""``podheitor``: operator commands (the backend itself is ``podheitor-backend``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="podheitor", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="back up, restore and verify a sample tree")
    demo.add_argument("--dir", type=Path, default=Path("demo-output"),
                      help="work directory (recreated; default ./demo-output)")
    demo.add_argument("--plugin-dir", type=Path,
                      help="built shim (make plugin PLUGINDIR=...): also run real Bacula")
    unframe = sub.add_parser("unframe", help="restore the holes of a file that bextract "
                             "recovered in PHSPARSE framing")
    unframe.add_argument("source", type=Path)
    unframe.add_argument("target", type=Path)
    args = parser.parse_args(argv)
    if args.command == "unframe":
        from podheitor.app.unframe import unframe as run_unframe
        from podheitor.domain.errors import PodheitorError
        try:
            size = run_unframe(args.source, args.target)
        except (PodheitorError, OSError) as exc:
            print(f"podheitor unframe: {exc}", file=sys.stderr)
            return 1
        print(f"{args.target}: {size} bytes, holes restored")
        return 0
    if args.command == "demo":
        from podheitor.app import demo as demo_module
        plugins = args.plugin_dir.resolve() if args.plugin_dir else None
        return 0 if demo_module.run(args.dir.resolve(), plugin_dir=plugins) else 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
