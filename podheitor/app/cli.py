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
    args = parser.parse_args(argv)
    if args.command == "demo":
        from podheitor.app import demo as demo_module
        return 0 if demo_module.run(args.dir.resolve()) else 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
