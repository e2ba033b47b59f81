"""The course's in-memory ``EventStore``, made correct.

What the course's version got wrong, and what this one does instead:

* ``append`` accepted any event with any version: two writers could both store
  "version 2". Here the caller states the version it expects; a mismatch
  raises :class:`ConcurrencyError` and writes nothing.
* ``get_events`` scanned every event of every aggregate: here each stream has
  its own index.
* there was no ordered global feed for projections: here ``read_all``.

Everything happens without an ``await`` between checking and writing, so it is
atomic within one event loop — the property PostgreSQL must give us with a lock.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from workshop.events import Event
from workshop.store.base import BaseStore, ConcurrencyError, Recorded, Snapshot


class MemoryEventStore(BaseStore):
    """Events in a Python list. Perfect for tests and notebooks; gone on restart."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._log: list[Event] = []  # the global feed: position = index + 1
        self._streams: dict[str, list[int]] = {}  # stream -> indexes into the log
        self._snapshots: dict[str, list[Snapshot]] = {}

    async def append(self, stream_id: str, events: Sequence[Event], expected_version: int | None) -> int:
        events = self._check(stream_id, events, expected_version)
        events = await self._encode(stream_id, events)  # the only await: before the check
        indexes = self._streams.get(stream_id, [])
        current = len(indexes)
        if expected_version is not None and expected_version != current:
            raise ConcurrencyError(stream_id, expected_version, current)
        start = len(self._log)
        for i, e in enumerate(events, 1):
            self._log.append(e.replace(version=current + i))
        self._streams.setdefault(stream_id, []).extend(range(start, start + len(events)))
        return current + len(events)

    async def read(self, stream_id: str, from_version: int = 1, to_version: int | None = None) -> list[Event]:
        indexes = self._streams.get(stream_id, [])
        stop = len(indexes) if to_version is None else min(to_version, len(indexes))
        return await self._decode([self._log[i] for i in indexes[max(from_version, 1) - 1 : stop]])

    async def read_all(self, after: int = 0, limit: int = 1000) -> list[Recorded]:
        chunk = self._log[after : after + limit]
        decoded = await self._decode(chunk)
        return [Recorded(after + i, e) for i, e in enumerate(decoded, 1)]

    async def version(self, stream_id: str) -> int:
        return len(self._streams.get(stream_id, []))

    async def head(self) -> int:
        """The position of the last event in the global feed (0 when empty)."""
        return len(self._log)

    async def position(self, stream_id: str, version: int) -> int:
        """The feed position of ``stream_id``'s event number ``version`` (0 for version 0 or none)."""
        indexes = self._streams.get(stream_id, [])
        return indexes[version - 1] + 1 if 0 < version <= len(indexes) else 0

    async def raw(self, stream_id: str) -> list[Event]:
        """The events exactly as stored: no decryption, no upcasting."""
        return [self._log[i] for i in self._streams.get(stream_id, [])]

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        # stored as JSON, like PostgreSQL does: later changes to the state object don't leak in
        frozen = Snapshot(snapshot.stream_id, snapshot.version, json.dumps(snapshot.state), snapshot.tag)
        self._snapshots.setdefault(snapshot.stream_id, []).append(frozen)

    async def load_snapshot(self, stream_id: str, tag: str = "", max_version: int | None = None) -> Snapshot | None:
        candidates = [
            s
            for s in self._snapshots.get(stream_id, [])
            if s.tag == tag and (max_version is None or s.version <= max_version)
        ]
        best = max(candidates, key=lambda s: s.version, default=None)
        return None if best is None else Snapshot(best.stream_id, best.version, json.loads(best.state), best.tag)

    async def _delete_snapshots(self, stream_id: str) -> None:
        self._snapshots.pop(stream_id, None)
