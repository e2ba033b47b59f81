"""Chapter 6's check: passes on the solution, 'not done' on the stub, hints on wrong answers, one line on a crash."""

from __future__ import annotations

import pytest

from tests.one_line import assert_one_line
from workshop.checks import ExerciseFailed, ExerciseNotDone, ch06
from workshop.store import MemoryEventStore


def batches(events, size):  # as in solutions/06_performance.ipynb
    return [events[i : i + size] for i in range(0, len(events), size)]


def stub(events, size):
    raise NotImplementedError("Exercise 6.1: Batches")


async def test_the_solution_passes_and_sets_prediction_next_to_measurement(capsys):
    store = MemoryEventStore()
    await ch06.check_batching(batches, 50, 10, store, events=100)
    out = capsys.readouterr().out
    assert "✅ Exercise 6.1 passed" in out and "2 commits instead of 100" in out
    assert "predicted 10x, measured" in out
    assert len(await store.read_all(after=0, limit=1000)) == 200  # both ways really appended


async def test_the_stub_is_not_done():
    with pytest.raises(ExerciseNotDone, match="6.1"):
        await ch06.check_batching(stub, 50, 10, MemoryEventStore(), events=10)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda ev, size: [ev], "at most size=3"),
        (lambda ev, size: [[e] for e in ev], "consecutive slices"),
        (
            lambda ev, size: [ev[i : i + size] for i in range(0, len(ev) - size + 1, size)],
            "1 of 10 events are lost",
        ),  # drops the tail
        (lambda ev, size: [ev[i : i + size + 1] for i in range(0, len(ev), size + 1)], "at most size=3"),
        (lambda ev, size: (ev[i : i + size] for i in range(0, len(ev), size)), r"got generator\): wrap it in list"),
        (
            lambda ev, size: [tuple(ev[i : i + size]) for i in range(0, len(ev), size)],
            "each batch should be a list, got tuple",
        ),
        (lambda ev, size: [ev[i : i + 3] for i in range(0, len(ev), 3)], "at most size=2"),  # the size ignored
        (lambda ev, size: [ev[i : i + size] for i in range(1, len(ev), size)], "each event once"),  # skips the first
    ],
)
async def test_wrong_splits_get_a_hint(wrong, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        await ch06.check_batching(wrong, 50, 10, MemoryEventStore(), events=10)


@pytest.mark.parametrize(
    "size, prediction, words",
    [
        (0, 10, "BATCH_SIZE must be a whole number"),
        (501, 10, "BATCH_SIZE"),
        ("50", 10, "BATCH_SIZE"),
        (50, 0, "PREDICTED_SPEEDUP must be a positive number"),
        (50, "fast", "PREDICTED_SPEEDUP"),
        (50, True, "PREDICTED_SPEEDUP"),
        (50, None, "PREDICTED_SPEEDUP is still empty"),
        (50, "", "still empty"),
        (50.0, 10, r"BATCH_SIZE must be a whole number from 1 to 500, got 50.0"),
        (50, -2, "positive"),
    ],
)
async def test_bad_choices_are_named(size, prediction, words):
    with pytest.raises(ExerciseFailed, match=words):
        await ch06.check_batching(batches, size, prediction, MemoryEventStore(), events=10)


async def test_a_crash_is_one_line():
    def crashing(events, size):
        return [events[i : i + size] for i in range(0, len(events), size)][len(events)]  # IndexError

    with pytest.raises(ExerciseFailed) as info:
        await ch06.check_batching(crashing, 50, 10, MemoryEventStore(), events=10)
    assert_one_line(info.value, "6.1", "IndexError", "crashing([0, 1, 2, 3, ...], 3)")
