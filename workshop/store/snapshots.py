"""Snapshots: a cached fold, so loading a long stream doesn't replay it all.

Loading = newest snapshot + the events after it (``aggregate.load(…, snapshot_tag=…)``).
A **policy** decides when to take one; the simplest is "every N events".

A snapshot is a cache, never the truth: it can be deleted at any time (and is,
when a user is forgotten), and its ``tag`` names the ``evolve`` that made it —
change ``evolve`` and bump the tag, and old snapshots are simply ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from workshop.store.aggregate import Evolve, Loaded, load
from workshop.store.base import EventStore, Snapshot

Policy = Callable[[int, int], bool]  # (version before the append, version after) -> take a snapshot?


@dataclass(frozen=True)
class EveryN:
    """Snapshot whenever an append crosses a multiple of ``n`` (batches can jump over one)."""

    n: int = 100

    def __call__(self, old_version: int, new_version: int) -> bool:
        return new_version // self.n > old_version // self.n


async def take_snapshot(store: EventStore, stream_id: str, evolve: Evolve, tag: str = "") -> Loaded:
    """Fold the stream (from its newest snapshot) and save the result as a snapshot."""
    loaded = await load(store, stream_id, evolve, snapshot_tag=tag)
    await store.save_snapshot(Snapshot(stream_id, loaded.version, loaded.state, tag))
    return loaded


async def measure_load_times(
    store: EventStore, evolve: Evolve, lengths: list[int], event_factory, repeat: int = 3
) -> list[dict]:
    """For each length: build a stream that long, time a full replay and a snapshot load (best of ``repeat``).

    ``event_factory(stream_id, i)`` makes the i-th event. Returns one dict per length.
    """
    import time

    rows = []
    for n in lengths:
        stream, version = f"load-{n}", await store.version(f"load-{n}")
        while version < n:
            size = min(1000, n - version)
            version = await store.append(stream, [event_factory(stream, version + i) for i in range(size)], version)
        await take_snapshot(store, stream, evolve, tag="measure")
        timings = {}
        for label, tag in (("full_ms", None), ("snapshot_ms", "measure")):
            best = float("inf")
            for _ in range(repeat):
                t = time.perf_counter()
                loaded = await load(store, stream, evolve, snapshot_tag=tag)
                best = min(best, time.perf_counter() - t)
            timings[label] = best * 1000
        rows.append(
            {
                "events": n,
                **timings,
                "speedup": timings["full_ms"] / timings["snapshot_ms"],
                "same_state": loaded.state == (await load(store, stream, evolve)).state,
            }
        )
    return rows
