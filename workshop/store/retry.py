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
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

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


@dataclass(frozen=True)
class Outcome:
    version: int  # the stream's version after our append
    attempts: int  # 1 = no conflict
    events: list[Event]


async def execute(store: EventStore, stream_id: str, decide: Callable[[Any], Sequence[Event]], evolve: Evolve,
                  policy: ConflictRetry = ConflictRetry(), *, snapshot_every: Callable[[int, int], bool] | None = None,
                  snapshot_tag: str = "") -> Outcome:
    """Load, decide, append with the expected version; on conflict retry per ``policy``.

    With ``snapshot_every`` (e.g. ``EveryN(100)``) loads start from the newest
    snapshot, and a new one is saved whenever the policy says so.
    """
    tag = snapshot_tag if snapshot_every is not None else None
    delays = policy.delays()
    attempt = 0
    while True:
        attempt += 1
        loaded = await load(store, stream_id, evolve, snapshot_tag=tag)
        events = list(decide(loaded.state))
        try:
            version = await store.append(stream_id, events, expected_version=loaded.version)
        except ConcurrencyError:
            delay = next(delays, None)
            if delay is None:
                raise
            await asyncio.sleep(delay)
            continue
        if snapshot_every is not None and snapshot_every(loaded.version, version):
            state = fold(evolve, await store.read(stream_id, loaded.version + 1, version), loaded.state)
            await store.save_snapshot(Snapshot(stream_id, version, state, snapshot_tag))
        return Outcome(version, attempt, events)
