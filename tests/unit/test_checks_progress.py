"""The learner's progress: a projection of ExerciseChecked events (no services needed)."""

from __future__ import annotations

import pytest

from workshop.checks import ch03, progress
from workshop.checks.progress import ExerciseProgress, checked, project, table
from workshop.events import Event


def runs(*pairs):
    return [checked(exercise, outcome, f"hint {i}") for i, (exercise, outcome) in enumerate(pairs)]


def test_attempts_done_and_the_last_hint_per_exercise():
    view = project(runs(("4.1", "failed"), ("4.1", "crashed"), ("4.1", "passed"), ("1.2", "failed")))
    assert list(view) == ["1.2", "4.1"]  # in exercise order, not in the order they were tried
    assert view["4.1"].attempts == 3 and view["4.1"].done and view["4.1"].failures_in_a_row == 0
    assert view["1.2"] == ExerciseProgress(
        "1.2",
        attempts=1,
        done=False,
        failures_in_a_row=1,
        last_outcome="failed",
        last_hint="hint 3",
        last_at=view["1.2"].last_at,
    )
    assert view["1.2"].last_at is not None


def test_three_failures_in_a_row_is_stuck_and_a_pass_ends_it():
    assert not project(runs(*[("2.2", "failed")] * 2))["2.2"].stuck
    three = runs(*[("2.2", "failed")] * 2, ("2.2", "crashed"))
    assert project(three)["2.2"].stuck
    assert not project(three + runs(("2.2", "passed")))["2.2"].stuck
    # failing again after a pass: done stays true, the count starts over
    after = project(three + runs(("2.2", "passed"), ("2.2", "failed")))["2.2"]
    assert after.done and after.failures_in_a_row == 1 and not after.stuck


def test_failures_on_other_exercises_do_not_add_up():
    view = project(runs(("2.1", "failed"), ("2.2", "failed"), ("2.1", "failed"), ("2.2", "failed")))
    assert not any(p.stuck for p in view.values())


def test_exercise_order_is_numeric_and_other_events_are_ignored():
    view = project(
        runs(("10.1", "passed"), ("2.1", "passed"), ("2.1b", "passed"))
        + [Event("SomethingElse", "progress", {"exercise": "9.9"})]
    )
    assert list(view) == ["2.1", "2.1b", "10.1"]


def test_an_unknown_outcome_is_refused():
    with pytest.raises(ValueError, match="outcome"):
        checked("1.1", "maybe")


def test_the_table_shows_done_stuck_attempts_and_last_hint_one_line_each():
    text = table(project(runs(("1.1", "passed"), *[("1.2", "failed")] * 3)))
    lines = text.splitlines()
    assert lines[1].split() == ["1.1", "done", "1"]  # a passed exercise shows no hint
    assert lines[2].split()[:3] == ["1.2", "stuck", "3"] and lines[2].endswith("hint 3")
    assert lines[-1] == "1 of 2 exercises tried are done"
    assert "no check has run yet" in table({})


def test_recording_is_off_outside_a_kernel_unless_asked(monkeypatch):
    monkeypatch.delenv("WORKSHOP_PROGRESS", raising=False)
    assert not progress.enabled()  # pytest is not a Jupyter kernel
    monkeypatch.setenv("WORKSHOP_PROGRESS", "on")
    assert progress.enabled()
    monkeypatch.setenv("WORKSHOP_PROGRESS", "off")
    assert not progress.enabled()


def test_a_recording_failure_costs_one_line_and_never_the_verdict(monkeypatch, capsys):
    monkeypatch.setenv("WORKSHOP_PROGRESS", "on")
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")  # nothing listens on port 1
    ch03.check_snapshot_policy(lambda old, new: new // 100 > old // 100)
    out, err = capsys.readouterr()
    assert "✅ Exercise 3.4 passed" in out
    assert err.count("\n") == 1 and err.startswith("(progress not recorded — ") and "verdict" in err


# --- the instructor's grid (workshop/classroom/progress.py) --------------------------------------


def test_the_course_exercises_are_read_from_the_checks():
    from workshop.classroom.progress import course_exercises

    ids = course_exercises()
    assert ids[:3] == ["0.1", "0.2", "1.1"] and "6.1" in ids and len(ids) == len(set(ids)) >= 19


def test_the_room_grid_shows_done_stuck_not_started_and_pass_rates():
    from workshop.classroom.progress import LearnerProgress, grid, summary

    room = [
        LearnerProgress("alice", project(runs(("1.1", "passed"), ("1.2", "failed"), ("1.2", "passed")))),
        LearnerProgress(
            "bob",
            project(
                runs(("1.1", "passed"), *[("1.2", "failed")] * 4)[:-1]
                + [checked("1.2", "crashed", "your handler(...) raised KeyError")]
            ),
        ),
        LearnerProgress("carol", {}),
    ]
    data = summary(room, ["1.1", "1.2", "1.3"])
    assert data["pass_rates"] == {"1.1": {"done": 2, "of": 3}, "1.2": {"done": 1, "of": 3}, "1.3": {"done": 0, "of": 3}}
    bob = data["learners"][1]
    assert bob["cells"]["1.2"] == {"state": "stuck", "attempts": 4, "failures": 4}
    assert bob["stuck"] == [{"exercise": "1.2", "failures": 4, "hint": "your handler(...) raised KeyError"}]
    assert set(data["learners"][1]) == {"name", "started", "cells", "done", "stuck"}  # no code, anywhere
    lines = grid(data).splitlines()
    assert lines[1].split() == ["alice", "✔", "✔", "·", "-"]
    assert (
        lines[2].startswith("bob")
        and "✖4" in lines[2]
        and "1.2 (4 failures): your handler(...) raised KeyError" in lines[2]
    )
    assert lines[3].split() == ["carol", "·", "·", "·", "not", "started"]
    assert lines[4].split() == ["done", "2/3", "1/3", "0/3"]
