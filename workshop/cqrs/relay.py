"""The relay: the event store's global feed, forwarded to the bus.

The write side only appends; this loop is what publishes. It remembers the
last position it forwarded (a checkpoint row), reads what comes after, publishes
it with confirms, and then moves the checkpoint. If it dies between publishing
and moving the checkpoint, it publishes those events again when it restarts:
**at least once**, never *lost* — which is why every consumer is idempotent.

It wakes up on PostgreSQL's ``NOTIFY`` (sent when an append commits, see
``schema.py``) and otherwise checks every ``poll`` seconds, so a missed
notification costs at most one poll interval.

    python -m workshop.run.cqrs relay        # one process per namespace (compose: cqrs-relay)
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - types only
    from workshop.bus.base import Bus
    from workshop.store import PostgresEventStore

from workshop.config import Settings
from workshop.config import settings as load_settings
from workshop.cqrs import checkpoints
from workshop.cqrs.schema import channel
from workshop.errors import WorkshopError
from workshop.waiting import stop_task

NAME = "relay"
DEPTH = 4  # chunks published and not yet confirmed, at most
WINDOW = 256  # RabbitBus.publish_many's confirms in flight: a chunk up to this size leaves at once


class RelayError(WorkshopError):
    """A chunk could not move the checkpoint because one before it was not confirmed."""


def routing_key(event_type: str) -> str:
    """``UserCreated`` → ``user.usercreated`` (the bus's topic naming, as in chapter 1)."""
    return f"user.{event_type.lower()}"


class Relay:
    """Forwards the feed of ``store`` to ``bus``; ``await relay.catch_up()`` or ``relay.start()``."""

    def __init__(
        self,
        store: PostgresEventStore,
        bus: Bus,
        settings: Settings | None = None,
        *,
        batch: int = 500,
        poll: float = 0.5,
    ) -> None:
        self.store, self.bus, self.batch, self.poll = store, bus, batch, poll
        self.settings = settings or load_settings()  # where to LISTEN (the store's database)
        self.schema = store.schema
        self.published, self.errors, self.last_error = 0, 0, ""
        self._task: asyncio.Task | None = None
        self._position: int | None = None  # the last position read and handed to the bus
        self._forwarding: collections.deque[asyncio.Future] = collections.deque()  # chunks in flight, in order
        self._wide = False  # the last chunk handed to the bus was wider than WINDOW
        # told (positions, moments) after each chunk is confirmed: when its read began and ended and
        # when the broker confirmed it (time.perf_counter()), for the lag's split (``lag.LagMeter``)
        self.listeners: list[Callable[[list[int], dict[str, float]], None]] = []

    async def catch_up(self, *, settle: bool = True) -> int:
        """Publish everything committed after the checkpoint; returns how many were published.

        Chunks are pipelined: the next chunk is read while the broker confirms the ones before
        (one channel keeps them in order), and the checkpoint moves past a chunk only once it and
        every chunk before it are confirmed (:meth:`_forward`). ``settle=False`` returns with the
        last ones in flight (the loop waits for a NOTIFY meanwhile; a failure surfaces on the next call).
        """
        total = 0
        try:
            while True:
                if self._position is None:  # once, and after a failure: where the last confirmed move left it
                    await self._drain()
                    async with self.store.pool.connection() as conn:
                        self._position = await checkpoints.read_one(conn, self.schema, NAME)
                self._check()  # a chunk that failed meanwhile: raise here, restart from the checkpoint
                moments = {"relay_read": time.perf_counter()}
                chunk = await self.store.read_all(after=self._position, limit=self.batch)
                if not chunk:
                    break
                moments["relay_read_done"] = time.perf_counter()
                while len(self._forwarding) >= DEPTH or (self._forwarding and self._wide):
                    # bounded: a slow broker holds the reads back; and a chunk wider than the bus's
                    # window of confirms still has publishes waiting to leave, which this one's would pass
                    await asyncio.wait([self._forwarding[0]])
                    self._check()
                self._wide = len(chunk) > WINDOW
                before = self._forwarding[-1] if self._forwarding else None
                self._forwarding.append(asyncio.ensure_future(self._forward(chunk, moments, before)))
                self._position = chunk[-1].position  # read (and handed to the bus): the next read starts after it
                total += len(chunk)
                if len(chunk) < self.batch:  # the end of the feed when it was read: what came after has its NOTIFY
                    break
            if settle:
                await self._settle()
        except BaseException:
            self._position = None  # not everything read was confirmed: the next call starts from the checkpoint
            if settle:
                await self._drain()
            raise
        return total

    async def _forward(self, chunk: list[Any], moments: dict[str, float], before: asyncio.Future | None) -> None:
        """Publish ``chunk`` at once (its publishes leave after the chunk before's, on the same channel),
        then, once it is confirmed and ``before`` is done, move the checkpoint past it."""
        try:
            await self.bus.publish_many(
                [(routing_key(r.event.event_type), r.event) for r in chunk], source="cqrs-relay"
            )
            moments["published"] = time.perf_counter()  # confirmed (not: the chunk before moved its checkpoint)
        finally:
            if before is not None:
                await asyncio.wait([before])  # in order; its failure is its own (and stops this move below)
        if before is not None and (before.cancelled() or before.exception() is not None):
            raise RelayError("an earlier chunk was not confirmed: the checkpoint stays before it")
        for listener in self.listeners:
            listener([r.position for r in chunk], moments)
        self.published += len(chunk)
        await self._move(chunk[-1].position)

    async def _move(self, position: int) -> None:
        """One round trip, and no wait for the disk: a move lost in a crash publishes those events
        again, which at least once allows (a second relay may have moved it further: forward only)."""
        async with self.store.pool.connection() as conn, conn.pipeline(), conn.transaction():
            await checkpoints.advance(conn, self.schema, NAME, position, forward_only=True, durable=False)

    def _check(self) -> None:
        """Forget the chunks already confirmed and moved; raise the failure of the first one that failed."""
        while self._forwarding and self._forwarding[0].done():
            self._forwarding.popleft().result()

    async def _settle(self) -> None:
        """Wait until every chunk in flight is confirmed and its move done (the first failure is raised)."""
        while self._forwarding:
            await asyncio.wait([self._forwarding[0]])
            self._check()

    async def _drain(self) -> None:
        """After a failure: let the chunks still in flight end, their errors already reported."""
        forwarding, self._forwarding = self._forwarding, collections.deque()
        if forwarding:
            await asyncio.wait(forwarding)
            for f in forwarding:
                if not f.cancelled():
                    f.exception()  # retrieved: it was reported through the one that failed first

    def start(self) -> Relay:
        self._task = asyncio.create_task(self._run(), name="cqrs-relay")
        return self

    async def _run(self) -> None:
        while True:
            try:
                await self._follow()
            except Exception as exc:  # noqa: BLE001 - the listening connection broke (e.g. a failover): connect again
                self.errors += 1
                self._position = None
                self.last_error = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(self.poll)

    async def _follow(self) -> None:
        from workshop import connect

        listener = await connect.postgres(self.settings, autocommit=True)
        try:
            await listener.execute(f'LISTEN "{channel(self.schema)}"')
            while True:
                try:
                    await self.catch_up(settle=False)
                except Exception as exc:  # noqa: BLE001 - a broker or database hiccup: retry from the checkpoint
                    self.errors += 1
                    self._position = None  # ask the checkpoint again
                    self.last_error = f"{type(exc).__name__}: {exc}"
                # sleep until an append commits (or `poll` seconds, whichever comes first)
                async for _ in listener.notifies(timeout=self.poll, stop_after=1):
                    pass
        finally:
            with contextlib.suppress(Exception):
                await listener.close()

    async def stop(self) -> None:
        if self._task is not None:
            await stop_task(self._task, raise_error=False)
            self._task = None
        with contextlib.suppress(Exception):  # the last moves: the next relay starts after them
            await self._settle()
        await self._drain()

    async def __aenter__(self) -> Relay:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
