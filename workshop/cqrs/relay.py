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
import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - types only
    from workshop.bus.base import Bus
    from workshop.store import PostgresEventStore

from workshop.config import Settings
from workshop.config import settings as load_settings
from workshop.cqrs import checkpoints
from workshop.cqrs.schema import channel
from workshop.waiting import stop_task

NAME = "relay"


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
        self._position: int | None = None  # the checkpoint as this relay last moved it
        self._moving: asyncio.Future | None = None  # the checkpoint's move in flight
        # told (positions, moments) after each chunk is confirmed: when its read began and ended and
        # when the broker confirmed it (time.perf_counter()), for the lag's split (``lag.LagMeter``)
        self.listeners: list[Callable[[list[int], dict[str, float]], None]] = []

    async def catch_up(self, *, settle: bool = True) -> int:
        """Publish everything committed after the checkpoint; returns how many were published.

        Each chunk's checkpoint move runs while the relay goes on (at most one in flight, in
        order); ``settle=False`` leaves the last one running (the loop waits for a NOTIFY meanwhile).
        """
        total = 0
        try:
            while True:
                if self._position is None:  # once: afterwards it is where this relay left it
                    async with self.store.pool.connection() as conn:
                        self._position = await checkpoints.read_one(conn, self.schema, NAME)
                moments = {"relay_read": time.perf_counter()}
                chunk = await self.store.read_all(after=self._position, limit=self.batch)
                if not chunk:
                    return total
                moments["relay_read_done"] = time.perf_counter()
                await self.bus.publish_many(
                    [(routing_key(r.event.event_type), r.event) for r in chunk], source="cqrs-relay"
                )
                moments["published"] = time.perf_counter()
                for listener in self.listeners:
                    listener([r.position for r in chunk], moments)
                await self._settle()  # the previous move first: they stay in order
                self._moving = asyncio.ensure_future(self._move(chunk[-1].position))
                self._position = chunk[-1].position
                total += len(chunk)
                self.published += len(chunk)
                if len(chunk) < self.batch:  # the end of the feed when it was read: what came after has its NOTIFY
                    return total
        finally:
            if settle:
                await self._settle()

    async def _move(self, position: int) -> None:
        """One round trip, and no wait for the disk: a move lost in a crash publishes those events
        again, which at least once allows (a second relay may have moved it further: forward only)."""
        async with self.store.pool.connection() as conn, conn.pipeline(), conn.transaction():
            await checkpoints.advance(conn, self.schema, NAME, position, forward_only=True, durable=False)

    async def _settle(self) -> None:
        """Wait for the checkpoint move in flight, if any (its failure is raised here)."""
        moving, self._moving = self._moving, None
        if moving is not None:
            await moving

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
        with contextlib.suppress(Exception):  # the last move: the next relay starts after it
            await self._settle()

    async def __aenter__(self) -> Relay:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
