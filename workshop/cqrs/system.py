"""The whole CQRS side in one process: what the notebook starts, and what the tests use.

    async with CqrsSystem(settings) as cqrs:
        accepted = await cqrs.send(CreateUser(user_id="u1", first_name="Ada", last_name="L", email="ada@x.org"))
        await cqrs.wait_visible(accepted.position)
        await cqrs.user("u1")

Inside: the event store (PostgreSQL), the command handler with email
reservations, the relay (feed → RabbitMQ), and projectors for the users table
(PostgreSQL) and the activity model (Redis), woken up by the bus. The same
pieces run as separate processes in compose (``--profile cqrs``).

The read side (relay and projectors) reads the feed through its own connections
(``feed``), as it does in its own process in compose: a burst of commands queueing
for the write side's connections never holds a read model back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - types only
    from redis.asyncio import Redis

    from workshop.config import Namespace
    from workshop.store import PostgresEventStore

from workshop import users
from workshop.config import Settings
from workshop.config import settings as load_settings
from workshop.cqrs import checkpoints, rebuild, schema
from workshop.cqrs.cache import CacheInvalidation
from workshop.cqrs.commands import Command
from workshop.cqrs.handler import Accepted, CommandHandler
from workshop.cqrs.lag import LagMeter
from workshop.cqrs.projectors import PostgresProjector, Projector, RedisProjector
from workshop.cqrs.readmodels import Activity, UsersTable
from workshop.cqrs.relay import Relay
from workshop.cqrs.uniqueness import EmailReservations
from workshop.errors import WorkshopError
from workshop.waiting import until


async def open_store(s: Settings, *, max_size: int = 10) -> Any:
    """The users' event store in ``s``' namespace, with the CQRS tables next to it."""
    from workshop.store import PostgresEventStore

    store = await PostgresEventStore.open(s, validate=users.validate, upcasters=users.UPCASTERS, max_size=max_size)
    try:
        await schema.setup(store.pool, store.schema)
        # the users view must exist before anyone queries it: users_v1 until a rebuild swaps it
        table = await rebuild.active(store.pool, store.schema) or "users_v1"
        async with store.pool.connection() as conn, conn.transaction():
            await schema.lock_setup(conn, store.schema)
            await UsersTable(table).setup(conn, store.schema)
        await rebuild.ensure_active(store.pool, store.schema, "users", table)
    except BaseException:
        await store.close()
        raise
    return store


def default_projectors(
    store: PostgresEventStore, redis: Redis, namespace: Namespace, users_table: str | None, *, batch: int = 1000
) -> list[Projector]:
    """The users table (PostgreSQL), the activity model and the cache floors (Redis)."""
    return [
        PostgresProjector(store, UsersTable(users_table or "users_v1"), batch=batch),
        RedisProjector(store, redis, namespace, Activity(), batch=batch),
        RedisProjector(store, redis, namespace, CacheInvalidation(), batch=batch),
    ]


@dataclass
class CqrsSystem:
    settings: Settings = field(default_factory=load_settings)
    bus_kind: str = "rabbitmq"
    start_projectors: bool = True
    store: Any = None
    feed: Any = None  # the same store, with the read side's own connections
    bus: Any = None
    redis: Any = None
    handler: CommandHandler | None = None
    relay: Relay | None = None
    projectors: dict[str, Projector] = field(default_factory=dict)
    lag: LagMeter = field(default_factory=LagMeter)

    async def start(self) -> CqrsSystem:
        from workshop import connect
        from workshop.bus import open_bus

        try:
            self.store = await open_store(self.settings)
            self.feed = await open_store(self.settings, max_size=4)
            self.redis = await connect.redis(self.settings)
            self.bus = await open_bus(self.bus_kind, self.settings, validate=users.validate)
            self.handler = CommandHandler(self.store, emails=EmailReservations(self.store.pool, self.store.schema))
            self.relay = Relay(self.feed, self.bus, self.settings).start()
            self.lag.listen_relay(self.relay)
            if self.start_projectors:
                for projector in default_projectors(
                    self.feed,
                    self.redis,
                    self.settings.namespace,
                    await rebuild.active(self.store.pool, self.store.schema),
                ):
                    await self.add(projector)
        except BaseException:
            await self.stop()
            raise
        return self

    async def add(self, projector: Projector, *, start: bool = True) -> Projector:
        """Set up a projector, measure its lag, and keep it running (woken by the bus)."""
        await projector.setup()
        self.lag.listen(projector)
        self.projectors[projector.name] = projector
        if start:
            await projector.start(self.bus)
        return projector

    async def remove(self, name: str) -> None:
        projector = self.projectors.pop(name, None)
        if projector is not None:
            await projector.stop()

    async def send(self, command: Command) -> Accepted:
        """Handle a command (as the write API does) and note when it was accepted."""
        if self.handler is None:
            raise WorkshopError(
                "the CQRS system is not started: `await cqrs.start()` (or `async with CqrsSystem(...)`)"
            )
        accepted = await self.handler.handle(command)
        if accepted.events:
            self.lag.accept(accepted.position, time.perf_counter())
        return accepted

    async def positions(self) -> dict[str, int]:
        """How far each read model has got in the feed (and the feed's head)."""
        out = {"head": await self.store.head()}
        for name, projector in self.projectors.items():
            out[name] = await projector.position()
        return out

    async def wait_visible(self, position: int, models: list[str] | None = None, timeout: float = 5.0) -> None:
        """Wait until every read model (or those named) has applied ``position``."""
        chosen = [self.projectors[m] for m in (models or list(self.projectors))]

        async def caught_up() -> bool:
            for p in chosen:
                if await p.position() < position:
                    return False
            return True

        await until(caught_up, timeout=timeout, every=0.005, what=f"the read models to reach position {position}")

    async def user(self, user_id: str) -> dict | None:
        """The users read model's row for ``user_id`` (what ``GET /users/{id}`` returns)."""
        async with self.store.pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT user_id, name, email, status, version, position FROM "
                f'"{self.store.schema}".users WHERE user_id = %s',
                (user_id,),
            )
            row = await cur.fetchone()
        return None if row is None else dict(zip(("user_id", "name", "email", "status", "version", "position"), row))

    async def checkpoints(self) -> dict[str, dict]:
        return await checkpoints.read(self.store.pool, self.store.schema)

    async def stop(self) -> None:
        for name in list(self.projectors):
            await self.remove(name)
        if self.relay is not None:
            await self.relay.stop()
        if self.bus is not None:
            await self.bus.close()
        if self.redis is not None:
            await self.redis.aclose()
        for store in (self.feed, self.store):
            if store is not None:
                await store.close()
        self.store = self.feed = self.bus = self.redis = self.relay = None

    async def __aenter__(self) -> CqrsSystem:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()
