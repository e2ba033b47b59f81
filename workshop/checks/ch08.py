"""Checks for chapter 8's exercises (solutions/08_replicas.ipynb).

Both run on the memory store and hand-made feeds: no cluster needed, so a check answers in
about a second.

* 8.1 ``wait_for_position(replica, position, timeout)`` — read your writes from a replica:
  wait until it has replayed ``position`` (then return its head), or raise ``TimeoutError``;
  the "replica" here is a memory store that a background task fills a little later.
* 8.2 ``audit_feed(acknowledged, feed)`` — the invariant checker: acknowledged events lost,
  events doubled, gaps in the feed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from workshop.checks import acall, call, check, expect, expect_equal, expect_isinstance, fail
from workshop.events import Event
from workshop.store import MemoryEventStore, Recorded

HANG = 3.0  # seconds past the timeout after which a wait counts as "never returns"


async def _replica(events: int) -> MemoryEventStore:
    store = MemoryEventStore()
    for i in range(events):
        await store.append("s", [Event("Ticked", "s", {"i": i})], i)
    return store


async def _catch_up(store: MemoryEventStore, to: int, delay: float) -> None:
    """The replica replays the rest ``delay`` seconds later (one event every few ms)."""
    await asyncio.sleep(delay)
    for i in range(await store.head(), to):
        await store.append("s", [Event("Ticked", "s", {"i": i})], i)
        await asyncio.sleep(0.005)


async def _wait(fn: Callable[..., Any], replica: Any, position: int, timeout: float, shown: str) -> tuple[Any, float]:
    start = time.monotonic()
    try:
        async with asyncio.timeout(timeout + HANG) as deadline:
            got = await acall("8.1", fn, replica, position, timeout, shown=shown, allow=(TimeoutError,))
    except TimeoutError:
        if deadline.expired():
            fail(
                "8.1",
                f"{shown} was still waiting {timeout + HANG:g} s later: every wait needs a deadline "
                "(use workshop.waiting.until(..., timeout=timeout))",
            )
        raise
    return got, time.monotonic() - start


@check("8.1")
async def check_wait_for_position(wait_for_position: Callable[..., Any]) -> str:
    # 1. already there: answer at once
    replica = await _replica(5)
    got, _ = await _wait(wait_for_position, replica, 3, 2.0, "wait_for_position(<replica at 5>, 3, timeout=2)")
    expect_equal(
        "8.1",
        got,
        5,
        what="wait_for_position(<replica at 5>, 3, timeout=2)",
        hint="return the replica's head once it is at or past the position (here it already is)",
    )

    # 2. behind, catches up 0.3 s later: wait, then answer
    replica = await _replica(2)
    task = asyncio.create_task(_catch_up(replica, 6, 0.3))
    shown = "wait_for_position(<replica at 2, at 6 a moment later>, 6, timeout=2)"
    try:
        got, _ = await _wait(wait_for_position, replica, 6, 2.0, shown)
    except TimeoutError:
        fail(
            "8.1",
            f"{shown} raised TimeoutError although the replica reached 6 after about 0.3 s: "
            "compare with >= (a replica exactly at the position has it)",
        )
    finally:
        task.cancel()
    expect(
        "8.1",
        isinstance(got, int) and not isinstance(got, bool),
        f"{shown} returned {got!r}: return the replica's head (an int), e.g. await replica.head()",
    )
    expect(
        "8.1",
        got >= 6,
        f"{shown} returned {got} — before the replica had position 6: that read would miss your own "
        "write. Poll replica.head() until it is >= position",
    )

    # 3. never gets there: raise TimeoutError after about `timeout`
    replica = await _replica(2)
    shown = "wait_for_position(<replica stuck at 2>, 4, timeout=0.5)"
    try:
        got, took = await _wait(wait_for_position, replica, 4, 0.5, shown)
    except TimeoutError:
        return "it waits for the replica, answers with its head, and gives up with TimeoutError after the timeout"
    fail(
        "8.1",
        f"{shown} returned {got!r} after {took:.1f} s, but the replica never got there: raise "
        "TimeoutError (workshop.waiting.until does) instead of answering with an older state",
    )


# --- 8.2 -------------------------------------------------------------------------------------


def _feed(*positions: int, ids: list[str] | None = None) -> list[Recorded]:
    ids = ids or [f"e{p}" for p in positions]
    return [Recorded(p, Event("Ticked", "s", {"p": p}, event_id=i)) for p, i in zip(positions, ids)]


CASES: list[tuple[str, list[str], list[Recorded], dict[str, list]]] = [
    ("a clean feed 1..4", ["e1", "e2", "e3", "e4"], _feed(1, 2, 3, 4), {"lost": [], "doubled": [], "gaps": []}),
    ("e3 acknowledged, not in the feed", ["e1", "e2", "e3"], _feed(1, 2), {"lost": ["e3"], "doubled": [], "gaps": []}),
    ("the feed jumps from 2 to 5", ["e1", "e2", "e5"], _feed(1, 2, 5), {"lost": [], "doubled": [], "gaps": [(2, 5)]}),
    ("the feed starts at position 3", [], _feed(3, 4), {"lost": [], "doubled": [], "gaps": [(0, 3)]}),
    (
        "e1 at positions 1 and 3",
        ["e1", "e2"],
        _feed(1, 2, 3, ids=["e1", "e2", "e1"]),
        {"lost": [], "doubled": ["e1"], "gaps": []},
    ),
    (
        "a feed that is not in position order",
        ["e1", "e2", "e3"],
        list(reversed(_feed(1, 2, 3))),
        {"lost": [], "doubled": [], "gaps": []},
    ),
    (
        "e2 acknowledged twice (a retried append)",
        ["e1", "e2", "e2"],
        _feed(1, 2),
        {"lost": [], "doubled": [], "gaps": []},
    ),
]

HINTS = {
    "lost": "lost = acknowledged event ids that are not in the feed (each once, sorted); "
    "an event in the feed twice is doubled, not lost",
    "doubled": "doubled = event ids that appear in the feed more than once (sorted) — "
    "count the feed, not the acknowledgements",
    "gaps": "gaps = (position before, next position) wherever the next position is not previous + 1 — "
    "the feed starts after 0, and sort it by position first",
}


@check("8.2")
def check_audit_feed(audit_feed: Callable[[list[str], list[Recorded]], dict]) -> str:
    for what, acked, feed, expected in CASES:
        shown = f"audit_feed(<{what}>)"
        got = call(
            "8.2",
            audit_feed,
            list(acked),
            list(feed),
            shown=shown,
            hint="feed holds Recorded(position, event): use record.position and record.event.event_id",
        )
        expect_isinstance("8.2", got, dict, what=shown, hint="return {'lost': [...], 'doubled': [...], 'gaps': [...]}")
        for key in ("lost", "doubled", "gaps"):
            expect("8.2", key in got, f"{shown} has no {key!r} key: return a dict with 'lost', 'doubled' and 'gaps'")
            value = [tuple(g) for g in got[key]] if key == "gaps" else got[key]
            expect_equal("8.2", value, expected[key], what=f"{shown}[{key!r}]", hint=HINTS[key])
    return f"{len(CASES)} feeds audited: lost, doubled and gaps found, nothing reported on a clean feed"
