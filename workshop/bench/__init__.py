"""Benchmarks: ``workshop bench <name> [--json FILE]`` prints a table and saves JSON.

Each benchmark is a module here with ``main(argv) -> int``. Targets are ratios
against a baseline measured in the same run, because classroom and CI machines
are noisy; absolute numbers are reported, never asserted in tests.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    names = available()
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: workshop bench {" + ",".join(names) + "} [--json FILE] [options]")
        return 0
    if argv[0] not in names:
        print(
            f"workshop bench: unknown benchmark {argv[0]!r}; choose from {', '.join(names) or 'none'}", file=sys.stderr
        )
        return 2
    return int(importlib.import_module(f"{__name__}.{argv[0]}").main(argv[1:]) or 0)
