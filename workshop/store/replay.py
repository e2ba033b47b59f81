"""Replay: rebuild any state or view from the global feed, from position 0.

A view is disposable: delete it, replay the feed, and it is back — that is
what makes changing a read model safe. ``replay`` reads the feed in batches
and hands each event to ``apply(event, position)``.
"""

from __future__ import annotations

from collections.abc import Callable

from workshop.events import Event
from workshop.store.base import EventStore

Apply = Callable[[Event, int], object]


async def replay(store: EventStore, apply: Apply, *, after: int = 0, batch: int = 1000, progress: bool = False) -> int:
    """Feed every event after ``after`` to ``apply``; returns the last position.

    ``progress=True`` shows a tqdm bar (leave it off in tests and nbval runs).
    """
    bar = None
    if progress:
        from tqdm.auto import tqdm

        head = await store.head() if hasattr(store, "head") else None
        bar = tqdm(total=None if head is None else max(head - after, 0), unit="event", desc="replay")
    position = after
    try:
        while chunk := await store.read_all(after=position, limit=batch):
            for rec in chunk:
                apply(rec.event, rec.position)
            position = chunk[-1].position
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    return position
