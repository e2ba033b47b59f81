"""Racing writers and a following reader: does the global feed lose, duplicate or skip?

``race(store)`` starts ``writers`` tasks that append concurrently — some to
their own streams, some to shared streams with expected versions and retries —
while one reader follows the feed the way a projection does (remember the last
position, ask for what comes after). At the end it compares what the reader saw
with what was committed.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

from workshop.events import Event
from workshop.store.base import ConcurrencyError, EventStore
from workshop.store.feed import catch_up
from workshop.waiting import within


@dataclass
class RaceReport:
    appended: int  # events the writers were told were stored
    committed: int  # events in the feed at the end
    seen: int  # events the following reader saw
    lost: int  # appended but not in the feed
    duplicated: int  # seen more than once
    skipped: int  # committed but never seen by the follower (it had moved past them)
    out_of_order: int  # seen with a position lower than one seen before
    conflicts: int  # ConcurrencyErrors on shared streams (then retried)
    live_reads: int  # reads that returned events while the writers were still writing
    holes: int  # positions missing between the first and the last one seen
    positions: list[int] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return (
            self.lost == self.duplicated == self.skipped == self.out_of_order == self.holes == 0
            and self.seen == self.committed
        )


async def race(
    store: EventStore,
    writers: int = 8,
    appends: int = 40,
    shared_streams: int = 2,
    max_batch: int = 3,
    timeout: float = 60.0,
    seed: int = 1,
) -> RaceReport:
    """Run the race; every wait is bounded by ``timeout`` seconds."""
    rng = random.Random(seed)
    appended: list[str] = []
    conflicts = 0
    done = asyncio.Event()
    after0 = await store.head()  # the race's events come after whatever is there already

    async def writer(w: int) -> None:
        nonlocal conflicts
        for i in range(appends):
            shared = rng.random() < 0.5
            stream = f"shared-{rng.randrange(shared_streams)}" if shared else f"writer-{w}"
            batch = [Event("RaceTick", stream, {"writer": w, "i": i}) for _ in range(rng.randint(1, max_batch))]
            while True:
                expected = await store.version(stream)
                try:
                    await store.append(stream, batch, expected_version=expected)
                    appended.extend(e.event_id for e in batch)
                    break
                except ConcurrencyError:
                    conflicts += 1
                    await asyncio.sleep(rng.random() / 1000)

    seen: list[int] = []
    seen_ids: list[str] = []
    live_reads = 0

    async def reader() -> None:
        nonlocal live_reads
        position = after0
        while True:
            finished = done.is_set()  # after the writers finish, read until nothing is left
            chunk = await store.read_all(after=position, limit=100)
            for rec in chunk:
                seen.append(rec.position)
                seen_ids.append(rec.event.event_id)
                position = rec.position
            live_reads += bool(chunk) and not finished
            if finished and not chunk:
                return
            if not chunk:
                await asyncio.sleep(0.001)

    reading = asyncio.create_task(reader())
    try:
        await within(asyncio.gather(*(writer(w) for w in range(writers))), timeout, what=f"{writers} writers")
    finally:
        done.set()
        await within(reading, timeout, what="the follower to catch up")
    committed = await catch_up(store, after=after0)
    committed_ids = {r.event.event_id for r in committed}
    committed_pos = {r.position for r in committed}
    return RaceReport(
        appended=len(appended),
        committed=len(committed),
        seen=len(seen),
        lost=len(set(appended) - committed_ids),
        duplicated=len(seen_ids) - len(set(seen_ids)),
        skipped=len(committed_pos - set(seen)),
        out_of_order=sum(1 for a, b in zip(seen, seen[1:]) if b <= a),
        conflicts=conflicts,
        live_reads=live_reads,
        holes=(seen[-1] - after0 - len(set(seen))) if seen else 0,
        positions=seen,
    )
