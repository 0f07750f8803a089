"""Run every benchmark module that has a ``main()``."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import benchmarks


def run() -> int:
    wanted = set(sys.argv[1:])
    for info in pkgutil.iter_modules(benchmarks.__path__):
        if info.name.startswith("_") or (wanted and info.name not in wanted):
            continue
        module = importlib.import_module(f"benchmarks.{info.name}")
        if hasattr(module, "main"):
            print(f"== {info.name}")
            module.main()
    return 0


if __name__ == "__main__":
    sys.exit(run())
