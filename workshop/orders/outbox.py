"""The transactional outbox: save the state change and its event in ONE transaction.

The course's order service saves (nothing, in fact) and then publishes: two
writes to two systems. If the process dies between them, the order exists and
nobody ever hears about it — or, the other way round, the event announces an
order that was never saved. With an outbox the event is a row next to the
order; a :class:`Relay` publishes unpublished rows with publisher confirms
and marks them. A crash can now only cause a *second* publish (the relay died
after the confirm, before marking) — which the consumers' inbox absorbs.

"Published" must mean *in a queue*, not just "the broker answered": RabbitMQ
confirms a message that matches no binding — and drops it. So the bus's
exchange has an alternate exchange: an event whose subscriber's queue does not
exist yet is parked in ``ns.unrouted`` (``await bus.unrouted()``) and replayed
with ``await bus.replay_unrouted()``. Should even that be missing, the broker
returns the message (it is published ``mandatory``), the bus raises
:class:`~workshop.bus.base.Unroutable`, and the relay marks only what was
delivered: the rest stays here and is tried again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

from workshop.bus.base import Bus, Unroutable
from workshop.events import Event
from workshop.orders.schemas import routing_key
from workshop.waiting import stop_task


async def add(conn: Any, source: str, events: Iterable[Event]) -> int:
    """Queue events for publishing, inside the caller's transaction."""
    rows = [(source, routing_key(e), e.event_id, e.to_json()) for e in events]
    if rows:
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO outbox (source, routing_key, event_id, body) VALUES (%s, %s, %s, %s)", rows
            )
    return len(rows)


class Relay:
    """Publishes ``source``'s outbox rows; ``poke()`` after a commit, or it polls every ``interval`` s.

    Several relays (one per process of a scaled service) share the work with
    ``FOR UPDATE SKIP LOCKED``: a row is locked by the relay publishing it.
    """

    def __init__(self, pool: Any, bus: Bus, source: str, *, batch: int = 200, interval: float = 0.5) -> None:
        self.pool, self.bus, self.source, self.batch, self.interval = pool, bus, source, batch, interval
        self.published = 0
        self.errors = 0
        self.last_error = ""
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopping = False

    def poke(self) -> None:
        self._wake.set()

    async def flush(self) -> int:
        """Publish one batch; returns how many rows were published (routed and confirmed).

        Raises :class:`Unroutable` after marking the others when some rows found no queue:
        those stay unpublished and are tried again on the next flush.
        """
        unroutable: Unroutable | None = None
        async with self.pool.connection() as conn:
            async with conn.transaction():
                cur = await conn.execute(
                    "SELECT id, routing_key, body FROM outbox WHERE source = %s AND published_at IS NULL "
                    "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                    (self.source, self.batch),
                )
                rows = await cur.fetchall()
                if not rows:
                    return 0
                try:
                    await self.bus.publish_many(
                        [(key, Event.from_json(body)) for _, key, body in rows], source=self.source
                    )
                except Unroutable as exc:  # delivered ones are marked, the others wait for their queue
                    unroutable = exc
                    rows = [r for i, r in enumerate(rows) if i not in set(exc.failed)]
                await conn.execute("UPDATE outbox SET published_at = now() WHERE id = ANY(%s)", ([r[0] for r in rows],))
        self.published += len(rows)
        if unroutable:
            raise unroutable
        return len(rows)

    async def run(self) -> None:
        backoff = 0.1
        while not self._stopping:
            self._wake.clear()
            try:
                n = await self.flush()
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database away: the rows stay, try again
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"[:200]
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if n < self.batch:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.interval)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name=f"relay:{self.source}")

    async def stop(self, grace: float = 5.0) -> None:
        """Finish the batch being published (up to ``grace`` s), then stop."""
        if self._task:
            self._stopping = True
            self.poke()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace)
            except TimeoutError:
                await stop_task(self._task)
            self._task = None
            self._stopping = False

    async def __aenter__(self) -> Relay:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def pending(pool: Any, source: str | None = None) -> int:
    """How many events wait in the outbox."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL AND (%s::text IS NULL OR source = %s)",
            (source, source),
        )
        return (await cur.fetchone())[0]
