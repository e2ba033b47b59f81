"""``workshop classroom progress``: the room at a glance — learners × exercises, and who is stuck.

Each learner's check runs are ``ExerciseChecked`` events in their own namespace
(``ws_alice_progress``, see ``workshop/checks/progress.py``). The instructor's view folds
every learner's stream with the same projection; only outcomes and one-line hints are
there to read, never a learner's code. The hub serves the same view as a live page
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
from workshop.classroom.learners import DATABASE, Learner, Roster, with_login
from workshop.config import Namespace, Settings
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


def class_database(admin: Settings) -> Settings:
    """The instructor's settings pointed at the class database (where every learner owns schemas)."""
    from urllib.parse import urlsplit

    parts = urlsplit(admin.database_url)
    return replace(admin, database_url=parts._replace(path="/" + DATABASE).geturl())


async def read_class(s: Settings, learners: dict[str, Namespace]) -> list[LearnerProgress]:
    """Each learner's projected progress, read with the instructor's login from ``s``'s database.

    ``learners`` maps a learner's name to their namespace (``alice`` → ``ws_alice``). Nothing is
    created: a learner who never ran a check has no tables yet, and shows as not started.
    """
    import psycopg

    pool = await connect.postgres_pool(s, min_size=1, max_size=2, kwargs=pool_kwargs())
    try:
        out = []
        for name, namespace in sorted(learners.items()):
            store = PostgresEventStore(pool, namespace.child(progress.STREAM).schema)
            try:
                events = await store.read(progress.STREAM)
            except (psycopg.errors.InvalidSchemaName, psycopg.errors.UndefinedTable):
                events = []
            out.append(LearnerProgress(name, progress.project(events)))
        return out
    finally:
        await pool.close()


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
            cells[e] = {"state": "todo"} if p is None else {
                "state": "done" if p.done else "stuck" if p.stuck else "trying",
                "attempts": p.attempts, "failures": p.failures_in_a_row}
        rows.append({"name": learner.name, "started": learner.started, "cells": cells,
                     "done": sum(p.done for p in learner.exercises.values()),
                     "stuck": [{"exercise": p.exercise, "failures": p.failures_in_a_row, "hint": p.last_hint}
                               for p in learner.stuck]})
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
            mark = MARK.get(cell["state"]) or (f"✖{cell['failures']}" if cell["state"] == "stuck"
                                               else f"{cell['attempts']}?")
            cells += f"{mark:<{width}}"
        stuck = "; ".join(f"{s['exercise']} ({s['failures']} failures): {progress.cut(s['hint'], hint_width)}"
                          for s in row["stuck"]) or ("not started" if not row["started"] else "-")
        lines.append(f"{row['name']:<{name_w}}{cells}{stuck}")
    rates = data["pass_rates"]
    lines.append(f"{'done':<{name_w}}" + "".join(f"{rates[e]['done']}/{rates[e]['of']:<{width - 2}}"
                                               for e in exercises))
    lines.append("✔ done · ✖n stuck after n failures in a row · n? tried n times · · not tried")
    return "\n".join(lines)


def roster_namespaces(directory: Path) -> dict[str, Namespace]:
    """The class list on disk (the hub's state folder): learner name → namespace."""
    roster = Roster(directory)
    return {name: (roster.get(name) or Learner.new(name)).namespace for name in roster.names()}


def learner_settings(admin: Settings, learner: Learner) -> Settings:
    """A learner's own settings (their login, their namespace) — what their kernel uses."""
    return replace(class_database(admin), namespace=learner.namespace,
                   database_url=with_login(admin.database_url, learner.account, learner.postgres, "/" + DATABASE))


def main(admin: Settings, directory: Path) -> int:
    learners = roster_namespaces(directory)
    if not learners:
        print(f"no learners in {directory} yet: workshop classroom up --learners …")
        return 1
    room = asyncio.run(read_class(class_database(admin), learners))
    print(grid(summary(room)))
    return 0
