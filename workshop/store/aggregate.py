"""Loading an aggregate: its state is a left fold of ``evolve`` over its events.

    state = fold(users.evolve, events)              # from the very first event
    loaded = await load(store, "user-1", users.evolve)
    loaded.state, loaded.version

With snapshots, ``load`` starts from the newest snapshot and folds only the
events after it (see :mod:`workshop.store.snapshots`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from workshop.events import Event
from workshop.store.base import EventStore

Evolve = Callable[[Any, Event], Any]


def fold(evolve: Evolve, events: Iterable[Event], state: Any = None) -> Any:
    """Apply each event in turn: ``evolve(evolve(evolve(state, e1), e2), e3)``."""
    state = {} if state is None else state
    for event in events:
        state = evolve(state, event)
    return state


@dataclass(frozen=True)
class Loaded:
    """An aggregate's state, the version it reflects, and how it was built."""

    state: Any
    version: int
    from_snapshot: int = 0  # the snapshot's version (0: replayed from the start)
    replayed: int = 0  # events folded after the snapshot


async def load(
    store: EventStore, stream_id: str, evolve: Evolve, *, to_version: int | None = None, snapshot_tag: str | None = None
) -> Loaded:
    """Rebuild a stream's state (up to ``to_version``), from a snapshot if ``snapshot_tag`` is given."""
    state, start = None, 0
    if snapshot_tag is not None:
        snap = await store.load_snapshot(stream_id, tag=snapshot_tag, max_version=to_version)
        if snap is not None:
            state, start = snap.state, snap.version
    events = await store.read(stream_id, from_version=start + 1, to_version=to_version)
    version = events[-1].version if events else start
    return Loaded(fold(evolve, events, state), version, start, len(events))
