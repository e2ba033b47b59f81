"""Chapter 3's race, fixed: many writers on one user's stream, each append with the expected version.

    fixed = await measure_with_expected_version(store, writers=4, appends=50)
    fixed.lost, fixed.versions_ok       # (0, True): conflicts were retried, nothing was lost

The course's version of the same race (a read-then-insert with no expected version) is
:func:`workshop.store.course.measure_naive`; the notebook runs both.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial

from workshop import users
from workshop.store.retry import ConflictRetry, execute
from workshop.waiting import within


@dataclass
class FixedResult:
    writers: int
    attempted: int
    stored: int
    lost: int
    versions_ok: bool  # versions are exactly 1..stored
    conflicts: int  # ConcurrencyErrors that were retried
    max_attempts: int


async def measure_with_expected_version(
    store, *, writers: int = 4, appends: int = 50, stream_id: str = "user-1", timeout: float = 60.0
) -> FixedResult:
    """The same race through ``retry.execute``: load, decide, append(expected_version), retry."""
    if await store.version(stream_id) == 0:
        await store.append(stream_id, [users.UserCreated(stream_id, "Alice", "Liddell", "alice@example.com")], 0)
    before = await store.version(stream_id)
    attempts: list[int] = []
    policy = ConflictRetry(attempts=50)

    async def writer(w: int) -> None:
        for i in range(appends):
            cmd = users.ChangeEmail(stream_id, f"w{w}-{i}@example.com")
            out = await execute(store, stream_id, partial(users.decide, cmd), users.evolve, policy)
            attempts.append(out.attempts)

    await within(asyncio.gather(*(writer(w) for w in range(writers))), timeout, what=f"{writers} writers")
    events = await store.read(stream_id, from_version=before + 1)
    versions = [e.version for e in events]
    return FixedResult(
        writers,
        writers * appends,
        len(events),
        writers * appends - len(events),
        versions == list(range(before + 1, before + 1 + len(events))),
        sum(a - 1 for a in attempts),
        max(attempts),
    )
