"""Projectors: the global feed in, read models out, each with its own checkpoint.

One step of a projector, for a PostgreSQL read model::

    records := the feed after the checkpoint         (up to `batch` events)
    BEGIN
      checkpoint: from where we read to the last position    (move_checkpoint; if another
                                    copy moved it first, the transaction fails: read again)
      apply the ones this model knows; skip and count the others
    COMMIT

The update and the checkpoint commit together, so a projector killed anywhere
resumes from its last commit: nothing lost, nothing applied twice. The transaction
runs in psycopg's *pipeline mode*: statements are queued and sent together when an
answer is needed, and none is needed before COMMIT — so a batch costs one round trip
(two when the model must first read the rows it changes) instead of one per statement.

For Redis the model turns the batch into a list of commands, and one script
(:data:`APPLY_IF_AT`) runs them together with the checkpoint's move — Redis runs a
script atomically, and it writes nothing if the checkpoint is no longer where the
batch was read from (another copy got there first). One round trip per batch, two
when the model must first read what it changes; ``WATCH`` / ``MULTI`` / ``EXEC`` would
take four (watch, read the checkpoint, read, exec).

The bus only *wakes* projectors up (any event on ``user.#``); what they apply
always comes from the feed, in feed order. A lost or repeated wake-up costs
nothing, and a projector started today back-fills from position 0.

    python -m workshop.run.cqrs projectors     # all read models (compose: cqrs-projectors)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from workshop.config import Namespace
from workshop.cqrs import checkpoints, schema
from workshop.store import EventStore, Recorded
from workshop.waiting import stop_task

if TYPE_CHECKING:  # pragma: no cover
    from workshop.bus.base import Bus, Subscription
    from workshop.store import PostgresEventStore

Listener = Callable[[list[int], float], None]  # (positions made visible, time.perf_counter() at commit)
PHASES = (
    "woke",
    "read",
    "read_done",
    "ready",
    "connected",
    "applied",
)  # the moments of a batch before its commit, see Projector.phases


class TableProjection(Protocol):
    """A read model in PostgreSQL (``readmodels.UsersTable``): applied in the projector's transaction."""

    @property
    def name(self) -> str: ...
    @property
    def types(self) -> Collection[str]: ...  # the event types it understands; the others are skipped and counted

    async def setup(self, conn: Any, schema: str) -> None: ...
    async def apply(self, conn: Any, schema: str, records: list[Recorded]) -> None: ...


class KeyProjection(Protocol):
    """A read model in Redis (``readmodels.Activity``): its writes run in one script with the checkpoint."""

    @property
    def name(self) -> str: ...
    @property
    def types(self) -> Collection[str]: ...

    async def read(self, redis: Any, ns: Namespace, records: list[Recorded]) -> dict[str, str]: ...
    def write(self, ns: Namespace, records: list[Recorded], current: dict[str, str]) -> list[list[str]]: ...


# KEYS: the checkpoint, the skip counter; ARGV: the position the batch was read after, its last
# position, the model's commands (a JSON list of lists of strings), how many events it skipped
APPLY_IF_AT = """
if tonumber(redis.call('GET', KEYS[1]) or '0') ~= tonumber(ARGV[1]) then return 0 end
for _, command in ipairs(cjson.decode(ARGV[3])) do redis.call(unpack(command)) end
redis.call('SET', KEYS[1], ARGV[2])
if tonumber(ARGV[4]) > 0 then redis.call('INCRBY', KEYS[2], ARGV[4]) end
return 1
"""


@dataclass
class ProjectorStats:
    applied: int = 0  # events this model understood and applied
    skipped: int = 0  # events of unknown types (skipped, counted)
    batches: int = 0
    wakeups: int = 0
    errors: int = 0  # failed steps (retried on the next wake-up or poll)


class Projector:
    """What both kinds share: the loop, the wake-ups, the statistics, the lag listeners."""

    kind = "?"

    def __init__(self, store: EventStore, projection: TableProjection | KeyProjection, *, batch: int = 1000) -> None:
        self.store, self.projection, self.batch = store, projection, batch
        self.stats = ProjectorStats()
        self.listeners: list[Listener] = []
        self.last_error = ""
        self._position: int | None = None  # the checkpoint as this copy last committed it
        # time.perf_counter() of the last batch's moments (PHASES), for the lag's split (PostgreSQL models)
        self.phases: dict[str, float] | None = None
        self._woke = 0.0  # the last wake-up from the bus
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._subscription: Subscription | None = None

    @property
    def name(self) -> str:
        return self.projection.name

    async def setup(self) -> Projector:  # pragma: no cover - each kind implements these three
        raise NotImplementedError

    async def step(self) -> int:  # pragma: no cover
        raise NotImplementedError

    async def position(self) -> int:  # pragma: no cover
        """The checkpoint: the last feed position this read model has applied."""
        raise NotImplementedError

    async def catch_up(self) -> int:
        """Apply everything committed so far; returns how many feed events were consumed.

        A batch shorter than ``batch`` was the end of the feed when it was read: whatever was
        committed after that read comes with its own wake-up, so there is no read to find nothing.
        """
        total = 0
        while True:
            n = await self.step()
            total += n
            if n < self.batch:
                return total

    def _done(self, records: list[Recorded], known: int) -> None:
        now = time.perf_counter()
        self.stats.applied += known
        self.stats.skipped += len(records) - known
        self.stats.batches += 1
        for listener in self.listeners:
            listener([r.position for r in records], now)

    # --- running in the background ------------------------------------------------------
    async def start(self, bus: Bus | None = None, *, poll: float = 0.5) -> Projector:
        """Keep the model up to date: catch up on every wake-up from ``bus``, or every ``poll`` s."""
        if bus is not None:

            async def wake(event: Any, delivery: Any) -> None:
                self.stats.wakeups += 1
                self._woke = time.perf_counter()
                self._wake.set()

            self._subscription = await bus.subscribe(
                f"cqrs-{self.kind}-{self.name}", ["user.#"], wake, prefetch=100, durable=False
            )
        self._task = asyncio.create_task(self._run(poll), name=f"projector-{self.name}")
        return self

    async def _run(self, poll: float) -> None:
        while True:
            self._wake.clear()
            try:
                await self.catch_up()
            except Exception as exc:  # noqa: BLE001 - a database hiccup: the checkpoint says where to resume
                self.stats.errors += 1
                # ask the database again: after a failover its checkpoint may be behind the one this copy
                # remembers (the commits that moved it were lost), and reading after that one would stall
                self._position = None
                self.last_error = f"{type(exc).__name__}: {exc}"
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), poll)

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.cancel()
            self._subscription = None
        if self._task is not None:
            await stop_task(self._task)
            self._task = None

    async def __aenter__(self) -> Projector:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class PostgresProjector(Projector):
    """A read model in the event store's database; checkpoint in ``<schema>.checkpoints``."""

    kind = "pg"
    store: PostgresEventStore
    projection: TableProjection

    async def setup(self) -> PostgresProjector:
        async with self.store.pool.connection() as conn, conn.transaction():
            await schema.lock_setup(conn, self.store.schema)
            await self.projection.setup(conn, self.store.schema)
            await checkpoints.lock(conn, self.store.schema, self.name)
        return self

    async def step(self, also: Callable[[Any], Any] | None = None) -> int:
        """One batch in one transaction; ``also(conn)`` runs in the same transaction (e.g. a blue/green swap)."""
        while True:
            position = self._position if self._position is not None else await self.position()
            records, moments = await self._read(position)
            if not records and also is None:
                return 0  # nothing new: no transaction needed
            applied = await self._commit(position, records, also, moments)
            if applied >= 0:
                return applied
            self._position = None  # another copy moved the checkpoint: ask the database

    async def catch_up(self) -> int:
        """Like :meth:`Projector.catch_up`, but reads the next batch while the current one is written
        (when the current one is full: a short one was the end of the feed)."""
        total = 0
        position = self._position if self._position is not None else await self.position()
        records, moments = await self._read(position)
        while records:
            if len(records) < self.batch:  # the last batch: nothing to read ahead
                if (applied := await self._commit(position, records, None, moments)) >= 0:
                    return total + applied
                position = await self.position()  # another copy moved the checkpoint: read again
                records, moments = await self._read(position)
                continue
            reading = asyncio.ensure_future(self._read(records[-1].position))
            try:
                applied = await self._commit(position, records, None, moments)
            except BaseException:  # stopped or failed: don't leave the read behind
                reading.cancel()
                raise
            if applied < 0:  # another copy moved the checkpoint: start again from where it is
                await stop_task(reading, raise_error=False)
                position = await self.position()
                records, moments = await self._read(position)
                continue
            total, position = total + applied, records[-1].position
            records, moments = await reading
        return total

    async def _read(self, position: int) -> tuple[list[Recorded], dict[str, float]]:
        """The feed after ``position``, and when the read started and ended (for the lag's split)."""
        moments = {"woke": self._woke, "read": time.perf_counter()}
        records = await self.store.read_all(after=position, limit=self.batch)
        moments["read_done"] = time.perf_counter()
        return records, moments

    async def _commit(
        self,
        position: int,
        records: list[Recorded],
        also: Callable[[Any], Any] | None = None,
        moments: dict[str, float] | None = None,
    ) -> int:
        """Apply ``records`` (read after ``position``) and move the checkpoint, in one transaction.

        Returns how many feed events were consumed, or -1 if the checkpoint is no longer at
        ``position`` (another copy of this projector got there first; nothing was written).
        In pipeline mode nothing is sent until an answer is needed: BEGIN, the checkpoint's
        move (which fails the transaction if another copy moved it first), the model's writes
        and COMMIT leave together — one round trip, two if the model must read rows first.
        """
        import psycopg

        ready_at = time.perf_counter()
        known = [r for r in records if r.event.event_type in self.projection.types]
        moved = False
        try:
            async with self.store.pool.connection() as conn, conn.pipeline():
                connected_at = time.perf_counter()
                async with conn.transaction():
                    # first: a second copy of this projector waits here, then fails, and writes nothing
                    await checkpoints.move(
                        conn,
                        self.store.schema,
                        self.name,
                        position,
                        records[-1].position if records else position,
                        len(records) - len(known),
                    )
                    if also is not None:
                        await also(conn)
                    if known:
                        await self.projection.apply(conn, self.store.schema, known)
                    applied_at = time.perf_counter()
                # leaving the transaction queues COMMIT; leaving the pipeline sends it all and waits
        except psycopg.Error as exc:
            if exc.sqlstate != checkpoints.MOVED:
                raise
            moved = True
        if moved:
            self._position = None
            return -1
        if not records:
            return 0
        self._position = records[-1].position  # where the next step starts, without asking
        self.phases = {
            **(moments or dict.fromkeys(PHASES[:3], ready_at)),
            "ready": ready_at,
            "connected": connected_at,
            "applied": applied_at,
        }
        self._done(records, len(known))
        return len(records)

    async def position(self) -> int:
        async with self.store.pool.connection() as conn:
            cur = await conn.execute(
                f'SELECT position FROM "{self.store.schema}".checkpoints WHERE name = %s', (self.name,)
            )
            row = await cur.fetchone()
        return row[0] if row else 0


class RedisProjector(Projector):
    """A read model in Redis; checkpoint and skip count in ``<ns>:cqrs:<name>:checkpoint`` / ``:skipped``."""

    kind = "redis"
    projection: KeyProjection

    def __init__(
        self, store: EventStore, redis: Any, namespace: Namespace, projection: KeyProjection, **kw: Any
    ) -> None:
        super().__init__(store, projection, **kw)
        self.redis, self.ns = redis, namespace
        self.checkpoint_key = namespace.key("cqrs", projection.name, "checkpoint")
        self.skipped_key = namespace.key("cqrs", projection.name, "skipped")
        self._apply = redis.register_script(APPLY_IF_AT)  # EVALSHA, loading the script when Redis lacks it

    async def setup(self) -> RedisProjector:
        return self

    async def step(self) -> int:
        while (applied := await self._step()) < 0:
            self._position = None  # another copy moved the checkpoint: read it again
        return applied

    async def _step(self) -> int:
        """One batch: read the feed, let the model read what it changes, then one script call.

        The model's reads need no ``WATCH``: a checkpoint only ever moves forward, so if the
        script finds it still at ``position``, nothing was written since this step began.
        """
        position = self._position if self._position is not None else await self.position()
        moments = {"woke": self._woke, "read": time.perf_counter()}
        records = await self.store.read_all(after=position, limit=self.batch)
        moments["read_done"] = moments["ready"] = moments["connected"] = time.perf_counter()
        if not records:
            return 0
        known = [r for r in records if r.event.event_type in self.projection.types]
        current = await self.projection.read(self.redis, self.ns, known) if known else {}
        commands = self.projection.write(self.ns, known, current) if known else []
        moments["applied"] = time.perf_counter()
        last, skipped = records[-1].position, len(records) - len(known)
        if not await self._apply(
            keys=[self.checkpoint_key, self.skipped_key], args=[position, last, json.dumps(commands), skipped]
        ):
            return -1
        self._position = last
        self.phases = moments
        self._done(records, len(known))
        return len(records)

    async def position(self) -> int:
        return int(await self.redis.get(self.checkpoint_key) or 0)
