"""Following the global feed — what a projection (chapter 4) does all day.

A follower remembers the last position it handled and asks for what comes
after it. That is only correct if the store never lets a *lower* position
appear after a higher one was seen (see ``postgres.py`` for why a plain
``bigserial`` breaks this under concurrent writers).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from workshop.store.base import EventStore, Recorded


async def follow(
    store: EventStore, after: int = 0, *, batch: int = 500, poll: float = 0.02, idle_timeout: float = 5.0
) -> AsyncIterator[Recorded]:
    """Yield every event after ``after``, in order, polling for new ones.

    Stops when nothing new arrived for ``idle_timeout`` seconds (never hangs).
    """
    position, idle_since = after, time.monotonic()
    while True:
        chunk = await store.read_all(after=position, limit=batch)
        for rec in chunk:
            yield rec
            position = rec.position
        if chunk:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > idle_timeout:
            return
        else:
            await asyncio.sleep(poll)


async def catch_up(store: EventStore, after: int = 0, *, batch: int = 1000) -> list[Recorded]:
    """Everything after ``after`` that is committed now (no waiting)."""
    out: list[Recorded] = []
    while chunk := await store.read_all(after=after, limit=batch):
        out.extend(chunk)
        after = chunk[-1].position
    return out
