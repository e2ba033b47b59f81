"""Each check run is an event: the learner's progress, event-sourced in chapter 3's store.

Every time a check gives its verdict, one ``ExerciseChecked`` event is appended to the
stream ``progress`` in the learner's own namespace (``<namespace>_progress``)::

    ExerciseChecked  {"exercise": "4.1", "outcome": "failed", "hint": "expected 'position' …"}

``outcome`` is ``passed``, ``failed`` (a wrong answer) or ``crashed`` (the learner's code
raised); the event's timestamp says when. A stub ("not done yet") is not an attempt and is
not recorded. Only the exercise id, the outcome and the one-line hint are stored — never the
learner's code.

The views are projections — a fold over those events, as in chapter 3:

    progress = project(await read())      # {"4.1": ExerciseProgress(...), …}
    print(table(progress))                # done, attempts, last hint per exercise
    await show()                          # the same, from any notebook

``workshop progress`` prints it in a terminal; the instructor's ``workshop classroom
progress`` and the hub's live page fold every learner's stream the same way.

Recording is on inside a Jupyter kernel (``WORKSHOP_PROGRESS=off`` turns it off,
``=on`` turns it on elsewhere). It never breaks a check: a store that is down costs one
line on stderr, and the verdict is shown as always.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from workshop.config import Namespace, Settings, settings
from workshop.events import Event

__all__ = [
    "EXERCISE_CHECKED",
    "OUTCOMES",
    "STREAM",
    "ExerciseProgress",
    "arecord",
    "checked",
    "enabled",
    "evolve",
    "namespace_of",
    "project",
    "read",
    "record",
    "show",
    "stuck",
    "table",
]

EXERCISE_CHECKED = "ExerciseChecked"
STREAM = "progress"
OUTCOMES = ("passed", "failed", "crashed")
STUCK_AFTER = 3  # failures in a row on one exercise, with no pass since
DEADLINE = 5.0  # seconds a recording may take before it is given up


# --- the event and the projection (pure) ---------------------------------------------------


def checked(exercise: str, outcome: str, hint: str = "") -> Event:
    """The event of one check run."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
    return Event(EXERCISE_CHECKED, STREAM, {"exercise": exercise, "outcome": outcome, "hint": hint[:300]})


@dataclass(frozen=True)
class ExerciseProgress:
    """What the events say about one exercise."""

    exercise: str
    attempts: int = 0
    done: bool = False  # passed at least once
    failures_in_a_row: int = 0  # since the last pass
    last_outcome: str = ""
    last_hint: str = ""
    last_at: datetime | None = None

    @property
    def stuck(self) -> bool:
        return stuck(self)


def stuck(p: ExerciseProgress, after: int = STUCK_AFTER) -> bool:
    """Stuck: ``after`` failures in a row on this exercise and no pass since."""
    return p.failures_in_a_row >= after and p.last_outcome != "passed"


def evolve(state: dict[str, ExerciseProgress], event: Event) -> dict[str, ExerciseProgress]:
    """The progress after one event; events of other types are ignored."""
    if event.event_type != EXERCISE_CHECKED:
        return state
    exercise, outcome = str(event.data.get("exercise", "?")), event.data.get("outcome")
    before = state.get(exercise, ExerciseProgress(exercise))
    passed = outcome == "passed"
    after = replace(
        before,
        attempts=before.attempts + 1,
        done=before.done or passed,
        failures_in_a_row=0 if passed else before.failures_in_a_row + 1,
        last_outcome=str(outcome),
        last_hint=str(event.data.get("hint", "")),
        last_at=event.when,
    )
    return {**state, exercise: after}


def exercise_order(exercise: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", exercise))


def project(events: Iterable[Event]) -> dict[str, ExerciseProgress]:
    """Fold the events: one :class:`ExerciseProgress` per exercise, in exercise order (0.1, 1.1, …, 10.1)."""
    state: dict[str, ExerciseProgress] = {}
    for event in events:
        state = evolve(state, event)
    return dict(sorted(state.items(), key=lambda kv: exercise_order(kv[0])))


def cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def table(progress: dict[str, ExerciseProgress], hint_width: int = 90) -> str:
    """The learner's view as text: one line per exercise."""
    if not progress:
        return "no check has run yet: run an exercise's check cell, and it shows up here"
    lines = [f"{'exercise':<9} {'state':<9} {'attempts':>8}  last hint"]
    for p in progress.values():
        state = "done" if p.done else ("stuck" if p.stuck else p.last_outcome)
        hint = "" if p.last_outcome == "passed" else p.last_hint
        lines.append(f"{p.exercise:<9} {state:<9} {p.attempts:>8}  {cut(hint, hint_width)}".rstrip())
    done = sum(p.done for p in progress.values())
    lines.append(f"{done} of {len(progress)} exercises tried are done")
    return "\n".join(lines)


# --- where the events live -------------------------------------------------------------------


def namespace_of(s: Settings | None = None) -> Namespace:
    """The learner's progress namespace: ``<namespace>_progress`` (``ws_alice_progress``)."""
    return (s or settings()).namespace.child(STREAM)


_READY: set[tuple[str, str]] = set()  # (database, schema) whose tables this process has created already


async def _open(s: Settings | None, create: bool = True):
    """The progress store; its tables are created once per process (a check should stay quick)."""
    from workshop import connect
    from workshop.store import PostgresEventStore
    from workshop.store.postgres import pool_kwargs

    s = s or settings()
    schema = namespace_of(s).schema
    pool = await connect.postgres_pool(s, min_size=1, max_size=1, kwargs=pool_kwargs())
    store = PostgresEventStore(pool, schema, owns_pool=True)
    try:
        if create and (s.database_url, schema) not in _READY:
            await store.setup()
            _READY.add((s.database_url, schema))
    except BaseException:
        await store.close()
        raise
    return store


async def append(event: Event, s: Settings | None = None) -> None:
    """Append one event to the learner's progress stream."""
    import psycopg

    store = await _open(s)
    try:
        try:
            await store.append(STREAM, [event], expected_version=None)
        except (psycopg.errors.InvalidSchemaName, psycopg.errors.UndefinedTable, psycopg.errors.UndefinedFunction):
            await store.setup()  # the namespace was reset since this process created the tables
            await store.append(STREAM, [event], expected_version=None)
    finally:
        await store.close()


async def read(s: Settings | None = None) -> list[Event]:
    """Every progress event of the learner, oldest first."""
    import psycopg

    store = await _open(s, create=False)  # reading creates nothing: no check run yet, no tables
    try:
        return await store.read(STREAM)
    except (psycopg.errors.InvalidSchemaName, psycopg.errors.UndefinedTable):
        return []
    finally:
        await store.close()


async def show(s: Settings | None = None) -> dict[str, ExerciseProgress]:
    """Print the learner's progress (from any notebook: ``await progress.show()``); returns it."""
    progress = project(await read(s))
    print(table(progress))
    return progress


# --- recording from a check --------------------------------------------------------------------


def enabled() -> bool:
    """Record check runs? ``WORKSHOP_PROGRESS=on/off``; by default only inside a Jupyter kernel."""
    choice = os.environ.get("WORKSHOP_PROGRESS", "").strip().lower()
    if choice in ("on", "1", "yes", "true"):
        return True
    if choice in ("off", "0", "no", "false"):
        return False
    return _in_kernel()


def _in_kernel() -> bool:
    """True inside a Jupyter kernel (not merely with IPython imported, as under pytest)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def _not_recorded(exc: BaseException) -> None:
    from workshop.checks.crashes import summary

    print(f"(progress not recorded — {summary(exc, 120)}; the verdict below stands)", file=sys.stderr)


async def arecord(exercise: str, outcome: str, hint: str = "", s: Settings | None = None) -> bool:
    """Append the run of one check; never raises (one line on stderr instead). True if recorded."""
    if not enabled():
        return False
    from workshop.waiting import within

    try:
        await within(append(checked(exercise, outcome, hint), s), DEADLINE, what="the progress store")
        return True
    except Exception as exc:  # noqa: BLE001 — a recording failure must never break a check
        _not_recorded(exc)
        return False


def record(exercise: str, outcome: str, hint: str = "", s: Settings | None = None) -> bool:
    """:func:`arecord` from plain code, even inside a running event loop (a notebook): on a thread of its own."""
    if not enabled():
        return False
    result: dict[str, Any] = {}

    def run() -> None:
        result["ok"] = asyncio.run(arecord(exercise, outcome, hint, s))

    worker = threading.Thread(target=run, name="progress-record", daemon=True)
    worker.start()
    worker.join(DEADLINE + 1)
    if worker.is_alive():
        _not_recorded(TimeoutError(f"the progress store did not answer within {DEADLINE:g} s"))
        return False
    return bool(result.get("ok"))
