"""What every service of the order system shares: consume → transaction → outbox → ack.

For each delivered event a service, in ONE PostgreSQL transaction:

1. records the event id in its **inbox** (a redelivery stops here: no second effect);
2. runs its ``handle`` — pure domain logic plus its own table writes;
3. writes the events it decided on to the **outbox**.

Then the bus acks the message and the service's :class:`~workshop.orders.outbox.Relay`
publishes the outbox rows with publisher confirms. A crash anywhere leaves
either nothing done (the message is redelivered) or everything done and the
events waiting in the outbox.

Three ways to run a service, one code path: inside a notebook
(:class:`~workshop.orders.system.OrderSystem`), as a process
(``python -m workshop.run.orders payment``, :mod:`workshop.run.orders`), or as a compose service.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from workshop.bus.base import Bus, Delivery, RetryPolicy, Subscription
from workshop.events import Event
from workshop.orders import inbox, outbox


class Service:
    """A consumer with a clear handler. Subclasses set ``name``, ``bindings`` and ``handle``."""

    name: ClassVar[str]
    bindings: ClassVar[tuple[str, ...]]

    def __init__(
        self, pool: Any, bus: Bus, *, prefetch: int = 20, retry: RetryPolicy | None = None, work_delay: float = 0.0
    ) -> None:
        self.pool, self.bus, self.prefetch = pool, bus, prefetch
        self.retry = retry or RetryPolicy(max_attempts=4, initial_delay=0.2)
        self.work_delay = work_delay  # simulated slowness (the course sleeps 2 s in payment)
        self.relay = outbox.Relay(pool, bus, self.name)
        self.duplicates = 0
        self.subscription: Subscription | None = None

    async def handle(self, conn: Any, event: Event) -> list[Event]:
        """Apply ``event`` to this service's tables; return the events to publish."""
        raise NotImplementedError

    async def on_event(self, event: Event, delivery: Delivery) -> None:
        if self.work_delay:
            await asyncio.sleep(self.work_delay)
        async with self.pool.connection() as conn:
            async with conn.transaction():
                if not await inbox.first_time(conn, self.name, event.event_id):
                    self.duplicates += 1
                    return
                events = await self.handle(conn, event)
                await outbox.add(conn, self.name, events)
        if events:
            self.relay.poke()

    async def start(self) -> None:
        self.relay.start()
        self.subscription = await self.bus.subscribe(
            self.name, self.bindings, self.on_event, prefetch=self.prefetch, retry=self.retry
        )

    async def stop(self) -> None:
        if self.subscription is not None:
            await self.subscription.cancel()
            self.subscription = None
        await self.relay.stop()

    async def __aenter__(self) -> Service:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def stats(self) -> dict[str, int]:
        counts = self.subscription.stats.as_dict() if self.subscription else {}
        return {**counts, "duplicates": self.duplicates, "published": self.relay.published}
