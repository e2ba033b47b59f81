"""``workshop classroom progress``: the room at a glance — learners × exercises, and who is stuck.

Each learner's check runs are ``ExerciseChecked`` events in their own namespace
(``ws_alice_progress`` in alice's own database, see ``workshop/checks/progress.py``). The
instructor's view folds every learner's stream with the same projection; only outcomes and
one-line hints are there to read, never a learner's code. Each stream is read **with the
learner's own login**: the tables, views and functions there are the learner's, and the
instructor's superuser never runs a query over objects a learner could have planted
(docs/classroom.md, attack 1). The hub serves the same view as a live page
(``workshop/classroom/progress_service.py``).

    workshop classroom progress

    learner    0.1 0.2 1.1 1.2 …   stuck on
    alice      ✔   ✔   ✔   ✔       -
    bob        ✔   ✔   ✖4  ·       1.1 (4 failures): expected the new stock levels …
    carol      ·   ·   ·   ·       -
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from workshop import connect
from workshop.checks import progress
from workshop.checks.progress import ExerciseProgress
from workshop.classroom.learners import Learner, Roster
from workshop.config import Settings
from workshop.store import PostgresEventStore
from workshop.store.postgres import pool_kwargs

CHECKS = Path(progress.__file__).parent
_CHECK_ID = re.compile(r'@check\("([0-9][0-9a-z.]*)"\)')


def course_exercises() -> list[str]:
    """Every exercise id that has a check (read from ``workshop/checks/chNN.py``), in order."""
    found = {m for path in sorted(CHECKS.glob("ch[0-9]*.py")) for m in _CHECK_ID.findall(path.read_text())}
    return sorted(found, key=progress.exercise_order)


@dataclass(frozen=True)
class LearnerProgress:
    name: str
    exercises: dict[str, ExerciseProgress]

    @property
    def started(self) -> bool:
        return bool(self.exercises)

    @property
    def stuck(self) -> list[ExerciseProgress]:
        return [p for p in self.exercises.values() if p.stuck]


async def read_learner(admin: Settings, learner: Learner) -> LearnerProgress:
    """One learner's projected progress, read with the learner's own login from their own database.
    Nothing is created: a learner who never ran a check (or cannot log in: frozen by the size
    watch, or using all their connections) shows as not started."""
    import psycopg

    s = learner_settings(admin, learner)
    try:
        pool = await connect.postgres_pool(s, min_size=1, max_size=1, kwargs=pool_kwargs())
    except Exception:  # noqa: BLE001 - one learner we cannot read must not hide the room
        return LearnerProgress(learner.name, {})
    try:
        store = PostgresEventStore(pool, learner.namespace.child(progress.STREAM).schema)
        try:
            events = await store.read(progress.STREAM)
        except (psycopg.errors.InvalidSchemaName, psycopg.errors.UndefinedTable):
            events = []
        return LearnerProgress(learner.name, progress.project(events))
    finally:
        await pool.close()


async def read_class(admin: Settings, learners: list[Learner]) -> list[LearnerProgress]:
    """Every learner's projected progress (:func:`read_learner`), sorted by name."""
    return [await read_learner(admin, learner) for learner in sorted(learners, key=lambda one: one.name)]


def summary(room: list[LearnerProgress], exercises: list[str] | None = None) -> dict:
    """The room as plain data (the live page's JSON): cells, who is stuck, pass rates per exercise."""
    exercises = exercises or course_exercises()
    seen = {e for learner in room for e in learner.exercises}
    exercises = exercises + sorted(seen - set(exercises), key=progress.exercise_order)
    rows: list[dict[str, Any]] = []
    for learner in room:
        cells = {}
        for e in exercises:
            p = learner.exercises.get(e)
            cells[e] = (
                {"state": "todo"}
                if p is None
                else {
                    "state": "done" if p.done else "stuck" if p.stuck else "trying",
                    "attempts": p.attempts,
                    "failures": p.failures_in_a_row,
                }
            )
        rows.append(
            {
                "name": learner.name,
                "started": learner.started,
                "cells": cells,
                "done": sum(p.done for p in learner.exercises.values()),
                "stuck": [
                    {"exercise": p.exercise, "failures": p.failures_in_a_row, "hint": p.last_hint}
                    for p in learner.stuck
                ],
            }
        )
    total = len(room)
    rates = {e: {"done": sum(r["cells"][e]["state"] == "done" for r in rows), "of": total} for e in exercises}
    return {"exercises": exercises, "learners": rows, "pass_rates": rates}


MARK = {"done": "✔", "todo": "·"}


def grid(data: dict, hint_width: int = 70) -> str:
    """The room as text: one line per learner, one column per exercise, then what the stuck ones see."""
    exercises = data["exercises"]
    width = max([len(e) for e in exercises] + [3]) + 1
    name_w = max([len(r["name"]) for r in data["learners"]] + [7]) + 2
    head = f"{'learner':<{name_w}}" + "".join(f"{e:<{width}}" for e in exercises) + "stuck on"
    lines = [head]
    for row in data["learners"]:
        cells = ""
        for e in exercises:
            cell = row["cells"][e]
            mark = MARK.get(cell["state"]) or (
                f"✖{cell['failures']}" if cell["state"] == "stuck" else f"{cell['attempts']}?"
            )
            cells += f"{mark:<{width}}"
        stuck = "; ".join(
            f"{s['exercise']} ({s['failures']} failures): {progress.cut(s['hint'], hint_width)}" for s in row["stuck"]
        ) or ("not started" if not row["started"] else "-")
        lines.append(f"{row['name']:<{name_w}}{cells}{stuck}")
    rates = data["pass_rates"]
    lines.append(
        f"{'done':<{name_w}}" + "".join(f"{rates[e]['done']}/{rates[e]['of']:<{width - 2}}" for e in exercises)
    )
    lines.append("✔ done · ✖n stuck after n failures in a row · n? tried n times · · not tried")
    return "\n".join(lines)


def learner_settings(admin: Settings, learner: Learner) -> Settings:
    """A learner's own settings (their login, their database, their namespace) — what their kernel uses."""
    return replace(admin, namespace=learner.namespace, database_url=learner.env(admin)["DATABASE_URL"])


def main(admin: Settings, directory: Path) -> int:
    learners = Roster(directory).all()
    if not learners:
        print(f"no learners in {directory} yet: workshop classroom up --learners …")
        return 1
    room = asyncio.run(read_class(admin, learners))
    print(grid(summary(room)))
    return 0
