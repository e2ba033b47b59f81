"""``workshop progress``: which exercises you have done, how many attempts, the last hint.

    workshop progress            # your namespace (WORKSHOP_NAMESPACE, or .env)
    workshop progress --json     # the same, for a script

Every check cell you run is recorded as an ``ExerciseChecked`` event in your own
namespace (``workshop/checks/progress.py``); this folds them into one line per
exercise. In a notebook: ``from workshop.checks import progress; await progress.show()``.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from workshop.checks import progress


def as_json(view: dict[str, progress.ExerciseProgress]) -> list[dict]:
    return [
        {
            "exercise": p.exercise,
            "done": p.done,
            "stuck": p.stuck,
            "attempts": p.attempts,
            "failures_in_a_row": p.failures_in_a_row,
            "last_outcome": p.last_outcome,
            "last_hint": p.last_hint,
            "last_at": p.last_at.isoformat() if p.last_at else None,
        }
        for p in view.values()
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="workshop progress", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    view = progress.project(asyncio.run(progress.read()))
    print(json.dumps(as_json(view), indent=1) if args.json else progress.table(view))
    return 0
