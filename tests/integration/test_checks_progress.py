"""Recording from real check runs: ExerciseChecked events in the learner's own progress stream (PostgreSQL)."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from workshop.checks import ExerciseCrashed, ExerciseFailed, ExerciseNotDone, ch03, ch04, progress
from workshop.infra.reset import reset_namespace


@pytest.fixture
async def learner(ws_settings, monkeypatch):
    """Checks record into this test's namespace, as a learner's kernel would into theirs."""
    monkeypatch.setenv("WORKSHOP_PROGRESS", "on")
    monkeypatch.setenv("WORKSHOP_NAMESPACE", ws_settings.namespace.name)
    yield ws_settings
    await reset_namespace(replace(ws_settings, namespace=progress.namespace_of(ws_settings)), quiet=True)


def snapshot_ok(old, new):
    return new // 100 > old // 100


def snapshot_wrong(old, new):
    return new % 100 == 0


def snapshot_crash(old, new):
    return {}[new]


def snapshot_stub(old, new):
    raise NotImplementedError("Exercise 3.4")


async def rebuild_ok(store, view, batch=1000):
    position = 0
    while chunk := await store.read_all(after=position, limit=batch):
        for record in chunk:
            view.apply(record.event, record.position)
        position = chunk[-1].position
    return position


async def test_each_verdict_is_an_event_in_the_learners_own_stream(learner, capsys):
    started = time.perf_counter()
    for wrong, error in (
        (snapshot_wrong, ExerciseFailed),
        (snapshot_crash, ExerciseCrashed),
        (snapshot_stub, ExerciseNotDone),
    ):
        with pytest.raises(error):
            ch03.check_snapshot_policy(wrong)
    ch03.check_snapshot_policy(snapshot_ok)
    await ch04.check_rebuild(rebuild_ok)  # an async check records too
    elapsed = time.perf_counter() - started
    out, err = capsys.readouterr()
    assert "✅ Exercise 3.4 passed" in out and "✅ Exercise 4.3 passed" in out and err == ""

    events = await progress.read(learner)
    assert [(e.event_type, e.data["exercise"], e.data["outcome"]) for e in events] == [
        ("ExerciseChecked", "3.4", "failed"),
        ("ExerciseChecked", "3.4", "crashed"),  # the stub is no attempt
        ("ExerciseChecked", "3.4", "passed"),
        ("ExerciseChecked", "4.3", "passed"),
    ]
    assert events[0].data["hint"].startswith("should_snapshot(98, 102) returned False")
    assert "KeyError" in events[1].data["hint"] and "\n" not in events[1].data["hint"]
    assert set(events[0].data) == {"exercise", "outcome", "hint"}  # outcomes and hints only, never code
    view = progress.project(events)
    assert view["3.4"].done and view["3.4"].attempts == 3 and view["4.3"].attempts == 1
    assert elapsed < 30, f"five checks with recording took {elapsed:.1f} s"

    shown = await progress.show(learner)
    assert shown == view and "3.4" in capsys.readouterr().out


async def test_recording_survives_a_reset_of_the_progress_namespace(learner, capsys):
    ch03.check_snapshot_policy(snapshot_ok)
    await reset_namespace(replace(learner, namespace=progress.namespace_of(learner)), quiet=True)
    ch03.check_snapshot_policy(snapshot_ok)  # this process created the tables before: it must notice they are gone
    assert capsys.readouterr().err == ""
    assert [e.data["outcome"] for e in await progress.read(learner)] == ["passed"]


def test_workshop_progress_prints_the_learners_own_view(learner, capsys):
    from workshop import cli

    assert cli.main(["progress"]) == 0
    assert "no check has run yet" in capsys.readouterr().out  # and nothing was created to say so
    for _ in range(3):
        with pytest.raises(ExerciseFailed):
            ch03.check_snapshot_policy(snapshot_wrong)
    ch03.check_upcaster(
        lambda data: {
            **{k: v for k, v in data.items() if k != "name"},
            "first_name": data["name"].partition(" ")[0],
            "last_name": data["name"].partition(" ")[2],
        }
    )
    capsys.readouterr()
    assert cli.main(["progress"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:3] == ["3.3", "done", "1"]
    assert lines[2].split()[:3] == ["3.4", "stuck", "3"] and "should_snapshot(98, 102)" in lines[2]
    assert cli.main(["progress", "--json"]) == 0
    rows = __import__("json").loads(capsys.readouterr().out)
    assert [(r["exercise"], r["done"], r["stuck"]) for r in rows] == [("3.3", True, False), ("3.4", False, True)]
