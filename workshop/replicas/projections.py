"""Chapter 4's CQRS side on the Patroni cluster: commands under load, the primary killed, projectors resume.

    async with CqrsSystem(cluster.settings(s)) as cqrs:     # write side + relay + projectors, on the primary
        result = await kill_primary_under_commands(cluster, cqrs)
        print(result)    # synchronous: 212 commands acknowledged, 0 lost, 0 doubled | 9 retried … | users_v1 = replay …

**The clients** send chapter 4's commands (``CreateUser``, then ``ActivateUser``) and, when a
command fails because the primary died under it, send **the same command again** — same
``command_id`` — until it is answered. That is the client chapter 4 asks for: the handler
finds a command's own events by their ``causation_id`` and answers a repeat with the first
answer, so a command *in doubt* becomes exactly-once instead of lost or doubled.

**The projectors** keep running through the failover; their steps fail while there is no
primary, and they resume from their checkpoints. A PostgreSQL read model keeps its checkpoint
in the same database as the feed, so the new primary has a matching prefix of both. A Redis
read model keeps its checkpoint *outside*: if it applied events the new primary does not
have, its checkpoint is **ahead** of the new primary's feed, the positions it already passed
are handed out again to new events, and it skips them. Asynchronous replication does that;
with synchronous replication a commit becomes visible (to the projectors too) only once the
standby has applied it, so a projector never reads what the new primary will not have.
:func:`compare_models` finds it (each read model against a replay of the feed), and
:func:`rebuild_redis_model` is the cure: the model from position 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from workshop import users
from workshop.cqrs.cache import UserCache
from workshop.cqrs.commands import ActivateUser, Command, CreateUser
from workshop.cqrs.handler import Accepted, CommandRejected
from workshop.cqrs.projectors import RedisProjector
from workshop.cqrs.readmodels import USER_TYPES, Activity
from workshop.replicas.failover import quiet_pool
from workshop.replicas.invariants import Audit, audit, read_feed
from workshop.replicas.patroni import PatroniCluster
from workshop.store import ConcurrencyError, Recorded
from workshop.waiting import until


def unavailable(exc: BaseException) -> bool:
    """Did this fail because the database went away (retry the same command), or for a real reason?"""
    import psycopg
    import psycopg_pool

    from workshop.errors import ServiceUnavailable

    return isinstance(exc, (psycopg.OperationalError, psycopg_pool.PoolTimeout, ServiceUnavailable, OSError))


@dataclass
class Answered:
    """A command the write side acknowledged."""

    command_id: str
    accepted: Accepted
    sent: float  # time.monotonic() when the attempt that was answered started
    at: float  # when it was answered
    attempts: int  # 1, or more when the first one(s) failed with the primary


@dataclass
class Client:
    """Sends commands one at a time; a command that fails with the database is sent again, same id."""

    cqrs: Any
    name: str
    answered: list[Answered] = field(default_factory=list)
    retried: int = 0  # commands that needed more than one attempt (in doubt at first)
    duplicates: int = 0  # of those, answered from the first attempt's events (it had committed)
    rejected: list[str] = field(default_factory=list)  # refused: e.g. activating a user whose creation was lost
    last_error: str = ""

    async def send(self, command: Command, deadline: float) -> Answered:
        attempts = 0
        while True:
            attempts += 1
            sent = time.monotonic()
            try:
                accepted = await self.cqrs.send(command)
            except Exception as exc:
                if not unavailable(exc) or time.monotonic() > deadline:
                    raise
                self.last_error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:80]}"
                await asyncio.sleep(0.05)
                continue
            if attempts > 1:
                self.retried += 1
                self.duplicates += accepted.duplicate
            answer = Answered(command.command_id, accepted, sent, time.monotonic(), attempts)
            self.answered.append(answer)
            return answer

    async def run_until(self, stop: asyncio.Event, timeout: float) -> None:
        i = 0
        while not stop.is_set():
            user_id = f"{self.name}-{i}"
            deadline = time.monotonic() + timeout
            create = CreateUser(user_id=user_id, first_name="Ada", last_name=f"No{i}", email=f"{user_id}@example.org")
            for command in (create, ActivateUser(user_id=user_id)):
                try:
                    await self.send(command, deadline)
                except CommandRejected as exc:  # the state it was decided on is gone (a lost CreateUser)
                    self.rejected.append(f"{command.type} {user_id}: {exc.reason}")
            i += 1


@dataclass
class CommandLoad:
    clients: list[Client]

    @classmethod
    def make(cls, cqrs: Any, clients: int = 3) -> CommandLoad:
        tag = uuid.uuid4().hex[:6]
        return cls([Client(cqrs, f"u{tag}{k}") for k in range(clients)])

    async def run_until(self, stop: asyncio.Event, timeout: float = 90.0) -> None:
        await asyncio.gather(*(c.run_until(stop, timeout) for c in self.clients))

    @property
    def answered(self) -> list[Answered]:
        return sorted((a for c in self.clients for a in c.answered), key=lambda a: a.at)

    def answered_since(self, t: float) -> int:
        return sum(1 for a in self.answered if a.sent > t)


# --- read models against a replay --------------------------------------------------------


def replay_users(feed: list[Recorded]) -> dict[str, tuple]:
    """The users table as a fold of the feed: ``{user_id: (name, email, status, version, position)}``."""
    rows: dict[str, dict] = {}
    for r in feed:
        if r.event.event_type not in USER_TYPES:
            continue
        row = rows.get(r.event.aggregate_id, {})
        state = users.evolve({k: row[k] for k in ("id", "name", "email", "status")} if row else {}, r.event)
        rows[r.event.aggregate_id] = {**state, "version": r.event.version, "position": r.position}
    return {u: (x["name"], x["email"], x["status"], x["version"], x["position"]) for u, x in rows.items()}


def replay_activity(feed: list[Recorded]) -> tuple[dict[str, str], dict[str, int]]:
    """The Redis activity model as a fold: each user's status, and users per status."""
    status: dict[str, str] = {}
    for r in feed:
        if (new := Activity.STATUS.get(r.event.event_type)) is not None:
            status[r.event.aggregate_id] = new
    return status, dict(Counter(status.values()))


def replay_floors(feed: list[Recorded]) -> dict[str, int]:
    """The cache floors as a fold: each user's newest version."""
    floors: dict[str, int] = {}
    for r in feed:
        if r.event.event_type in USER_TYPES:
            floors[r.event.aggregate_id] = max(floors.get(r.event.aggregate_id, 0), r.event.version)
    return floors


async def read_users(cqrs: Any) -> dict[str, tuple]:
    async with cqrs.store.pool.connection() as conn:
        cur = await conn.execute(
            f'SELECT user_id, name, email, status, version, position FROM "{cqrs.store.schema}".users'
        )
        return {u: (n, e, s, v, p) for u, n, e, s, v, p in await cur.fetchall()}


async def read_activity(cqrs: Any) -> tuple[dict[str, str], dict[str, int]]:
    keys = Activity().keys(cqrs.settings.namespace)
    status = await cqrs.redis.hgetall(keys["status"])
    counts = await cqrs.redis.hgetall(keys["counts"])
    decoded = {_s(k): _s(v) for k, v in status.items()}
    return decoded, {_s(k): int(v) for k, v in counts.items() if int(v)}


async def read_floors(cqrs: Any) -> dict[str, int]:
    cache = UserCache(cqrs.redis, cqrs.settings.namespace)
    pattern = cache.floor_key("*")
    prefix, suffix = pattern.split("*")
    out = {}
    async for key in cqrs.redis.scan_iter(match=pattern, count=500):
        k = _s(key)
        out[k[len(prefix) : len(k) - len(suffix)]] = int(await cqrs.redis.get(k) or 0)
    return out


def _s(x: Any) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


MODELS = {  # projector name → (read the model, replay the feed)
    "users_v1": (read_users, replay_users),
    "activity": (read_activity, replay_activity),
    "cache": (read_floors, replay_floors),
}


async def compare_models(cqrs: Any, feed: list[Recorded]) -> dict[str, bool]:
    """Each running read model against a replay of ``feed``: ``{name: equal}``."""
    out = {}
    for name in cqrs.projectors:
        key = "users_v1" if name.startswith("users_v") else name
        if key in MODELS:
            read, replay = MODELS[key]
            out[name] = await read(cqrs) == replay(feed)
    return out


async def rebuild_redis_model(cqrs: Any, name: str) -> None:
    """Throw a Redis read model away and project it again from position 0 (chapter 4's cure for a model gone wrong).

    For the cache, the cached users go with their floors: a floor says which *version* is
    current, not which event made it, so a user cached from an event the failover lost and the
    new event that took its version look alike — only an empty cache is sure to be right.
    """
    old = cqrs.projectors[name]
    if not isinstance(old, RedisProjector):
        raise ValueError(f"{name} is not a Redis read model")
    await cqrs.remove(name)
    keys = [old.checkpoint_key, old.skipped_key]
    if isinstance(old.projection, Activity):  # its three shared keys
        keys += old.projection.keys(old.ns).values()
    if name == "cache":  # every cached user and every floor
        keys += [k async for k in cqrs.redis.scan_iter(match=UserCache(None, old.ns).body_key("*"), count=500)]
    await cqrs.redis.delete(*keys)
    await cqrs.add(RedisProjector(old.store, old.redis, old.ns, old.projection, batch=old.batch))


# --- the fault ------------------------------------------------------------------------------


@dataclass
class CommandFailover:
    mode: str
    acknowledged: int  # commands answered
    retried: int  # commands sent again after the primary died under them
    rejected: list[str]  # commands refused afterwards (their aggregate lost an acknowledged event)
    duplicates: int  # retries answered from the first attempt's events
    lost: list[str]  # acknowledged commands whose events are not in the new primary's feed
    audit: Audit  # the feed: doubled event ids, gaps
    failover_s: float  # SIGKILL → first command answered by the new primary
    old: str
    new: str
    checkpoints_at_kill: dict[str, int]  # each read model's checkpoint (and the feed's head) just before the kill
    head_after: int  # the new primary's head, first read after the promotion
    errors: dict[str, int]  # failed projector steps (and the relay's) while there was no primary
    models: dict[str, bool] = field(default_factory=dict)  # read model = replay, once caught up
    stale_refused: bool = False  # an append with an old expected version was refused afterwards

    @property
    def ahead(self) -> dict[str, int]:
        """Read models whose checkpoint was past the new primary's head: positions they will skip."""
        return {
            n: p - self.head_after
            for n, p in self.checkpoints_at_kill.items()
            if n != "head" and p > self.head_after and not n.startswith("users_v")
        }

    def __str__(self) -> str:
        models = ", ".join(f"{n} {'= replay' if ok else 'DIFFERS'}" for n, ok in self.models.items())
        return (
            f"{self.mode}: {self.acknowledged} commands acknowledged, {len(self.lost)} lost, "
            f"{len(self.audit.doubled)} doubled | {self.retried} retried with the same id "
            f"({self.duplicates} answered from the first attempt), {len(self.rejected)} refused afterwards "
            f"| failover {self.failover_s:.1f} s "
            f"({self.old} → {self.new}) | feed {'dense' if not self.audit.gaps else 'HAS GAPS'} | {models}"
        )


async def kill_primary_under_commands(
    cluster: PatroniCluster,
    cqrs: Any,
    *,
    clients: int = 3,
    warmup: int = 40,
    frozen: float = 0.5,
    after: int = 20,
    timeout: float = 90.0,
) -> CommandFailover:
    """Clients send commands; the link slows; the primary dies; count, then check every read model."""
    load = CommandLoad.make(cqrs, clients)
    before = {n: p.stats.errors for n, p in cqrs.projectors.items()} | {"relay": cqrs.relay.errors}
    stop = asyncio.Event()
    with quiet_pool():
        task = asyncio.create_task(load.run_until(stop, timeout), name="command clients")
        try:
            await until(
                lambda: len(load.answered) >= warmup, timeout=timeout, what=f"{warmup} commands before the fault"
            )
            old = await asyncio.to_thread(cluster.leader)
            if old is None:
                raise RuntimeError("the cluster has no primary to kill")
            with cluster.slow_link():
                await asyncio.sleep(frozen)
                at_kill = await cqrs.positions()  # reads still work on the primary
                killed_at = await asyncio.to_thread(cluster.kill, old)
            new = await cluster.wait_for_leader(other_than=old.name, timeout=timeout)
            head_after = await until(_head(cqrs), timeout=timeout, what="the new primary to answer")
            await until(
                lambda: load.answered_since(killed_at) >= after,
                timeout=timeout,
                what=f"{after} commands on the new primary",
                detail=lambda: "; ".join(c.last_error for c in load.clients if c.last_error) or "no error",
            )
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.shield(task), timeout)
    head = await cqrs.store.head()
    await cqrs.wait_visible(head, timeout=timeout)
    feed = await read_feed(cqrs.store)
    answered = load.answered
    present = {r.event.causation_id for r in feed}
    first = next((a.at for a in answered if a.sent > killed_at), killed_at)
    errors = {n: p.stats.errors - before.get(n, 0) for n, p in cqrs.projectors.items()}
    errors["relay"] = cqrs.relay.errors - before["relay"]
    result = CommandFailover(
        "synchronous" if cluster.synchronous else "asynchronous",
        len(answered),
        sum(c.retried for c in load.clients),
        [r for c in load.clients for r in c.rejected],
        sum(c.duplicates for c in load.clients),
        [a.command_id for a in answered if a.accepted.events and a.command_id not in present],
        audit([], feed),
        first - killed_at,
        old.name,
        new.name,
        at_kill,
        head_after[0],
        errors,
    )
    result.models = await compare_models(cqrs, feed)
    result.stale_refused = await stale_version_refused(cqrs, feed)
    return result


def _head(cqrs: Any) -> Any:
    async def probe() -> tuple[int] | None:
        try:
            return (await cqrs.store.head(),)  # a tuple: a head of 0 is an answer too
        except Exception as exc:
            if unavailable(exc):
                return None
            raise

    return probe


async def stale_version_refused(cqrs: Any, feed: list[Recorded]) -> bool:
    """Optimistic concurrency after the failover: append to a user's stream with an old expected version."""
    user_id = next(r.event.aggregate_id for r in reversed(feed) if r.event.event_type in USER_TYPES)
    version = await cqrs.store.version(user_id)
    try:
        await cqrs.store.append(user_id, [users.UserActivated(user_id)], version - 1)
    except ConcurrencyError:
        return True
    return False


# --- the read side on a replica --------------------------------------------------------------


@contextlib.asynccontextmanager
async def read_api_on_replica(cluster: PatroniCluster, cqrs: Any, *, max_wait: float = 5.0) -> AsyncIterator[Any]:
    """Chapter 4's read API with its PostgreSQL queries sent to a replica; yields an ``httpx`` client for it.

    ``GET /users/{id}?after=<position>`` waits until the users table's checkpoint *on the
    replica* has reached the position: the projector committed it on the primary **and** the
    replica has replayed that commit — read-your-writes across a replica. (The app runs in
    this process, through ``httpx``'s ASGI transport: no port, nothing to stop.)
    """
    import httpx

    from workshop import connect
    from workshop.cqrs.read_api import ReadSide, create_app
    from workshop.store.postgres import pool_kwargs

    rs = cluster.settings(cqrs.settings, target="standby")
    pool = await connect.postgres_pool(rs, min_size=1, max_size=2, kwargs=pool_kwargs())
    try:
        app = create_app(ReadSide(pool, cqrs.store.schema, cqrs.redis, cqrs.settings.namespace), max_wait=max_wait)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://read-api") as client:
            yield client
    finally:
        await pool.close()
