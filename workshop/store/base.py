"""The contract every event store keeps — whatever it stores events in.

An event store does four things (the memory and PostgreSQL stores both do them,
and ``tests/store_contract.py`` is one suite run against both):

* ``append(stream_id, events, expected_version)`` — all or nothing. The caller
  says which version it saw; if the stream has moved on since, nothing is
  written and :class:`ConcurrencyError` says who won. ``expected_version=None``
  means "append at the end, whatever it is" (still atomic, never a duplicate).
* ``read(stream_id, from_version, to_version)`` — one stream, in version order.
* ``read_all(after, limit)`` — the **global feed**: every event of every stream
  in the order it was committed, as ``Recorded(position, event)``. A projection
  remembers the last position it saw and asks for what comes after. The store
  promises that a position, once seen, never gets an earlier neighbour later.
  ``position(stream_id, version)`` says where one stream's event sits in that feed
  (what a command's answer carries, so a client can wait for its read model).
* snapshots — ``save_snapshot`` / ``load_snapshot``: a cache of a folded state.

On the way in events are checked by the store's ``validate=`` hook (the same
hook the buses take, e.g. ``users.validate``) and personal fields encrypted (if
a cipher is set); on the way out they are decrypted and upcast to the current
schema. Stored events are never changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from workshop.errors import WorkshopError
from workshop.events import Event, EventFormatError, Validator, validated

if TYPE_CHECKING:  # pragma: no cover
    from workshop.store.crypto import Cipher
    from workshop.store.upcasting import Upcasters


class ConcurrencyError(WorkshopError):
    """Someone appended to the stream since the caller read it: nothing was written."""

    def __init__(self, stream_id: str, expected: int | None, actual: int) -> None:
        self.stream_id, self.expected, self.actual = stream_id, expected, actual
        super().__init__(
            f"stream {stream_id!r}: expected version {expected}, but it is at version {actual} "
            "(another writer appended first; nothing was written — reload and decide again)"
        )


class Recorded(NamedTuple):
    """An event as the global feed returns it: where it sits, and what it is."""

    position: int
    event: Event


@dataclass(frozen=True)
class Snapshot:
    """A folded state of ``stream_id`` after ``version`` events (a cache: deletable)."""

    stream_id: str
    version: int
    state: Any
    tag: str = ""


class EventStore(Protocol):
    async def append(self, stream_id: str, events: Sequence[Event], expected_version: int | None) -> int: ...
    async def read(self, stream_id: str, from_version: int = 1, to_version: int | None = None) -> list[Event]: ...
    async def read_all(self, after: int = 0, limit: int = 1000) -> list[Recorded]: ...
    async def version(self, stream_id: str) -> int: ...
    async def head(self) -> int: ...
    async def position(self, stream_id: str, version: int) -> int: ...
    async def append_at(
        self, stream_id: str, events: Sequence[Event], expected_version: int | None, *, first: Any = None
    ) -> tuple[int, int]: ...
    async def save_snapshot(self, snapshot: Snapshot) -> None: ...
    async def load_snapshot(self, stream_id: str, tag: str = "", max_version: int | None = None) -> Snapshot | None: ...
    async def forget(self, stream_id: str) -> None: ...
    async def close(self) -> None: ...
    async def __aenter__(self) -> Any: ...
    async def __aexit__(self, *exc: object) -> None: ...


class BaseStore:
    """What both stores share: checking events on the way in, decoding on the way out."""

    def __init__(
        self, *, validate: Validator | None = None, upcasters: Upcasters | None = None, cipher: Cipher | None = None
    ) -> None:
        self.validate = validate  # e.g. users.validate; None: any well-formed event is accepted
        self.upcasters = upcasters  # e.g. users.UPCASTERS; None: events come back as stored
        self.cipher = cipher

    def _check(self, stream_id: str, events: Sequence[Event], expected_version: int | None) -> list[Event]:
        """Validate a batch before anything is stored (bad data never reaches the log)."""
        if not isinstance(stream_id, str) or not stream_id:
            raise EventFormatError("stream_id must be a non-empty string")
        if expected_version is not None and (not isinstance(expected_version, int) or expected_version < 0):
            raise ValueError(f"expected_version must be an integer >= 0 or None, got {expected_version!r}")
        events = list(events)
        for e in events:
            if not isinstance(e, Event):
                raise EventFormatError(f"append() takes Event objects, got {type(e).__name__}")
            if e.aggregate_id != stream_id:
                raise EventFormatError(f"event {e.event_type} is for {e.aggregate_id!r}, not stream {stream_id!r}")
            validated(e, self.validate)
        return events

    async def _encode(self, stream_id: str, events: list[Event]) -> list[Event]:
        """Encrypt personal fields (if this store has a cipher)."""
        if self.cipher is None:
            return events
        return await self.cipher.encrypt_events(stream_id, events)

    async def _decode(self, events: list[Event]) -> list[Event]:
        """Decrypt (or redact) personal fields, then upcast to the current schema."""
        if self.cipher is not None:
            events = await self.cipher.decrypt_events(events)
        if self.upcasters:
            events = [self.upcasters.upcast(e) for e in events]
        return events

    async def append_at(
        self, stream_id: str, events: Sequence[Event], expected_version: int | None, *, first: Any = None
    ) -> tuple[int, int]:
        """:meth:`append`, and where it landed: ``(the stream's new version, the feed position of its last event)``.

        ``first``: ``(sql, params)`` to run in the append's own transaction, before it (a database store only).
        """
        if first is not None:
            raise TypeError(f"{type(self).__name__} has no transaction to run statements in")
        version = await self.append(stream_id, events, expected_version)  # type: ignore[attr-defined]
        return version, await self.position(stream_id, version)  # type: ignore[attr-defined]

    async def forget(self, stream_id: str) -> None:
        """Crypto-shredding: drop the stream's key and its snapshots; the events stay."""
        if self.cipher is not None:
            await self.cipher.keys.delete(stream_id)
        await self._delete_snapshots(stream_id)

    async def _delete_snapshots(self, stream_id: str) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        pass


def trusted_event(
    event_type: str,
    aggregate_id: str,
    data: dict,
    timestamp: str,
    version: int,
    event_id: str,
    correlation_id: str | None,
    causation_id: str | None,
    schema_version: int,
) -> Event:
    """Build an :class:`Event` from a stored row without re-validating it.

    Rows were validated when they were appended; skipping the checks makes
    rebuilding a long stream about twice as fast.
    """
    e = Event.__new__(Event)
    e.__dict__.update(
        event_type=event_type,
        aggregate_id=aggregate_id,
        data=data,
        timestamp=timestamp,
        version=version,
        event_id=event_id,
        correlation_id=correlation_id,
        causation_id=causation_id,
        schema_version=schema_version,
    )
    return e
