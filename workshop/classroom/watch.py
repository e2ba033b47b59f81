"""The size watch as a JupyterHub service: every minute, freeze a learner whose database is too big.

    python -m workshop.classroom.watch --every 60

Runs :func:`workshop.classroom.provision.watch` (the same pass ``workshop
classroom status`` makes) with the instructor's settings. A learner past the limit
cannot log in to PostgreSQL any more; the data is kept for the instructor, and
``workshop classroom reset NAME`` empties it and lets the learner in again.
Everything it does is printed to the hub's log.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from workshop.classroom import provision
from workshop.classroom.learners import Roster
from workshop.config import settings


def once(directory: Path) -> list[str]:
    """One pass; returns the names that are over the limit."""
    learners = Roster(directory).all()
    report = provision.watch(settings(), learners) if learners else {}
    return sorted(name for name, size in report.items() if size["over"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workshop.classroom.watch", description=__doc__)
    parser.add_argument("--every", type=float, default=60, help="seconds between passes")
    args = parser.parse_args(argv)
    directory = Path(os.environ["WORKSHOP_CLASSROOM_DIR"])
    while True:
        try:
            over = once(directory)
            if over:
                print(f"size watch: over the limit, frozen: {', '.join(over)} (workshop classroom status)", flush=True)
        except Exception as exc:  # noqa: BLE001 - a service down for a minute: say so, try again next pass
            print(f"size watch: {type(exc).__name__}: {str(exc)[:200]}", flush=True)
        time.sleep(args.every)


if __name__ == "__main__":
    raise SystemExit(main())
