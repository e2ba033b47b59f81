"""Time travel: the state of an aggregate at a version, or as of a moment.

Because nothing is ever overwritten, any past state is one fold away:

    await state_at(store, "user-1", users.evolve, version=2)
    await state_at(store, "user-1", users.evolve, as_of="2024-01-02T00:00:00+00:00")

"As of" uses the events' own timestamps and stops at the first event after
the moment, in stream order.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from itertools import takewhile
from typing import Any

from workshop.events import Event
from workshop.store.aggregate import Evolve, fold
from workshop.store.base import EventStore


def as_datetime(when: datetime | str) -> datetime:
    """A timezone-aware datetime (naive values and strings are taken as UTC)."""
    dt = datetime.fromisoformat(when) if isinstance(when, str) else when
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def events_as_of(events: Iterable[Event], when: datetime | str) -> list[Event]:
    """The events that had happened at ``when`` (inclusive)."""
    limit = as_datetime(when)
    return list(takewhile(lambda e: e.when <= limit, events))


async def state_at(
    store: EventStore,
    stream_id: str,
    evolve: Evolve,
    *,
    version: int | None = None,
    as_of: datetime | str | None = None,
) -> Any:
    """The state after ``version`` events, or as of a moment (or now, given neither)."""
    if version is not None and version < 1:
        return fold(evolve, [])
    events = await store.read(stream_id, to_version=version)
    if as_of is not None:
        events = events_as_of(events, as_of)
    return fold(evolve, events)
