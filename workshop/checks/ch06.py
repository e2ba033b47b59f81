"""Checks for chapter 6's exercise (solutions/06_performance.ipynb): predict, then measure.

The learner splits events into batches, picks a batch size and predicts the speed-up
over one event per transaction; the check tries the splitting on small lists, then
times both ways on the learner's store and sets the prediction next to the measurement.
A prediction is never "wrong": the check explains the gap instead. An *empty* one is
refused: the exercise ships ``PREDICTED_SPEEDUP = None``, so the learner commits to a
number before the measurement can anchor it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from workshop.checks import call, check, expect, expect_equal, fail, short
from workshop.events import Event

BATCH_LIMITS = (1, 500)


def _ticks(stream: str, n: int) -> list[Event]:
    return [Event("Ticked", stream, {"i": i}) for i in range(n)]


async def _append_all(store: Any, stream: str, groups: list[list[Event]]) -> float:
    """Seconds to append ``groups`` one transaction each, expected version checked every time."""
    version = 0
    start = time.perf_counter()
    for group in groups:
        version = await store.append(stream, group, version)
    return time.perf_counter() - start


def _split_problem(got: Any, items: list, size: int) -> str:
    """The likely cause when ``batches(items, size)`` is not the consecutive slices."""
    if not isinstance(got, list):
        return f"return a list of lists (got {type(got).__name__}): wrap it in list(...)"
    if got and not all(isinstance(g, list) for g in got):
        return f"each batch should be a list, got {type(got[0]).__name__}"
    flat = [x for g in got for x in g]
    if flat != items[: len(flat)] or len(flat) > len(items):
        return "keep the order, each event once: consecutive slices events[i:i + size]"
    if len(flat) < len(items):
        return (
            f"{len(items) - len(flat)} of {len(items)} events are lost: the last batch may be shorter than "
            "`size` — keep it"
        )
    if any(len(g) > size for g in got):
        return f"a batch holds at most size={size} events: slices events[i:i + size] for i in range(0, n, size)"
    return "consecutive slices of at most `size` events; only the last one may be shorter"


@check("6.1")
async def check_batching(
    batches: Callable[[list, int], list[list]], batch_size: Any, predicted_speedup: Any, store: Any, events: int = 200
) -> str:
    for items, size in (
        (list(range(10)), 3),
        (list(range(6)), 2),
        (list(range(4)), 10),
        (list(range(5)), 1),
        (list(range(7)), 7),
        (list(range(8)), 7),
    ):
        got = call("6.1", batches, items, size, hint="return a list of lists, in order")
        want = [items[i : i + size] for i in range(0, len(items), size)]
        if got != want:
            fail(
                "6.1",
                f"batches({items}, {size}) returned {short(got)}, expected {want}: {_split_problem(got, items, size)}.",
            )
    expect_equal("6.1", call("6.1", batches, [], 5), [], what="batches([], 5)", hint="no events, no batches")
    expect(
        "6.1",
        predicted_speedup is not None and predicted_speedup != "",
        "PREDICTED_SPEEDUP is still empty: write down how many times faster you expect batches to be "
        "(e.g. PREDICTED_SPEEDUP = 3) before the check measures — a guess made afterwards teaches nothing.",
    )
    expect(
        "6.1",
        isinstance(batch_size, int)
        and not isinstance(batch_size, bool)
        and BATCH_LIMITS[0] <= batch_size <= BATCH_LIMITS[1],
        f"BATCH_SIZE must be a whole number from {BATCH_LIMITS[0]} to {BATCH_LIMITS[1]}, got {short(batch_size)}",
    )
    expect(
        "6.1",
        isinstance(predicted_speedup, (int, float))
        and not isinstance(predicted_speedup, bool)
        and predicted_speedup > 0,
        f"PREDICTED_SPEEDUP must be a positive number (e.g. 5 for five times faster), got {short(predicted_speedup)}",
    )

    run = uuid.uuid4().hex[:8]
    one = await _append_all(store, f"single-{run}", [[e] for e in _ticks(f"single-{run}", events)])
    grouped = call(
        "6.1", batches, _ticks(f"batched-{run}", events), batch_size, shown=f"batches(<{events} events>, {batch_size})"
    )
    many = await _append_all(store, f"batched-{run}", grouped)
    measured = one / many
    commits = len(grouped)
    close = max(measured, predicted_speedup) / min(measured, predicted_speedup) <= 2
    verdict = (
        "within a factor of two: well predicted"
        if close
        else "more than a factor of two apart — "
        + (
            "each commit waits for the disk (an fsync) and a round trip: fewer commits, fewer waits"
            if measured > predicted_speedup
            else "past a few dozen events per commit, the time goes into writing rows, not into commits"
        )
    )
    print(
        f"{events} events: one per transaction {events / one:,.0f} events/s ({events} commits); "
        f"batches of {batch_size} {events / many:,.0f} events/s ({commits} commits)"
    )
    print(f"predicted {predicted_speedup:g}x, measured {measured:.1f}x — {verdict}")
    return f"batches of {batch_size}: {commits} commits instead of {events}"
