"""Deciding and appending under optimistic concurrency, retrying when another writer won.

The loop every command handler runs::

    load the stream (state, version) → decide(state) → events
    append(events, expected_version=version)
    on ConcurrencyError: someone else won; load again and decide again

Deciding again matters: the winner may have changed what is allowed (the user
was deleted, the email was already changed). Retrying the *same* events would
just be the course's race with extra steps.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from workshop.events import Event
from workshop.store.aggregate import Evolve, fold, load
from workshop.store.base import ConcurrencyError, EventStore, Snapshot


@dataclass(frozen=True)
class ConflictRetry:
    """How often and how patiently to retry a :class:`ConcurrencyError`: backoff with full jitter.

    (Not the bus's ``RetryPolicy``, which redelivers a message whose handler failed.)
    """

    attempts: int = 10
    base_delay: float = 0.002  # seconds
    max_delay: float = 0.1

    def delays(self) -> Iterator[float]:
        for n in range(self.attempts - 1):
            yield random.uniform(0, min(self.max_delay, self.base_delay * 2**n))


T = TypeVar("T")


async def on_conflict(
    policy: ConflictRetry, attempt: Callable[[int], Awaitable[T]], retried: Callable[[], None] | None = None
) -> T:
    """``await attempt(n)`` for n = 1, 2, …; after a :class:`ConcurrencyError`, wait per ``policy`` and
    try again — the attempt reloads and decides anew. Out of attempts: the last ConcurrencyError."""
    delays = policy.delays()
    n = 0
    while True:
        n += 1
        try:
            return await attempt(n)
        except ConcurrencyError:
            delay = next(delays, None)
            if delay is None:
                raise
            if retried is not None:
                retried()
            await asyncio.sleep(delay)


@dataclass(frozen=True)
class Outcome:
    version: int  # the stream's version after our append
    attempts: int  # 1 = no conflict
    events: list[Event]


async def execute(
    store: EventStore,
    stream_id: str,
    decide: Callable[[Any], Sequence[Event]],
    evolve: Evolve,
    policy: ConflictRetry = ConflictRetry(),
    *,
    snapshot_every: Callable[[int, int], bool] | None = None,
    snapshot_tag: str = "",
) -> Outcome:
    """Load, decide, append with the expected version; on conflict retry per ``policy``.

    With ``snapshot_every`` (e.g. ``EveryN(100)``) loads start from the newest
    snapshot, and a new one is saved whenever the policy says so.
    """
    tag = snapshot_tag if snapshot_every is not None else None

    async def attempt(n: int) -> Outcome:
        loaded = await load(store, stream_id, evolve, snapshot_tag=tag)
        events = list(decide(loaded.state))
        version = await store.append(stream_id, events, expected_version=loaded.version)
        if snapshot_every is not None and snapshot_every(loaded.version, version):
            state = fold(evolve, await store.read(stream_id, loaded.version + 1, version), loaded.state)
            await store.save_snapshot(Snapshot(stream_id, version, state, snapshot_tag))
        return Outcome(version, n, events)

    return await on_conflict(policy, attempt)
