"""Projectors on the real PostgreSQL, Redis and RabbitMQ: checkpoints, kills, unknown events, the relay."""

from __future__ import annotations

import asyncio
import sys

import pytest

from workshop import connect, users
from workshop.bus import RabbitBus
from workshop.cqrs import checkpoints
from workshop.cqrs.projectors import PostgresProjector, RedisProjector
from workshop.cqrs.readmodels import Activity, SignupsByDay, UsersTable
from workshop.cqrs.relay import Relay
from workshop.cqrs.system import open_store
from workshop.events import Event
from workshop.orders.processes import child_env, kill
from workshop.waiting import until

N_USERS = 300  # 300 created, 150 activated, 50 deleted, 30 unknown events: 530 in the feed


async def fill(store) -> None:
    for i in range(N_USERS):
        await store.append(f"u{i}", [users.UserCreated(f"u{i}", "A", f"N{i}", f"u{i}@example.org")], 0)
        if i % 2 == 0:
            await store.append(f"u{i}", [users.UserActivated(f"u{i}")], 1)
        if i % 6 == 0:
            await store.append(f"u{i}", [users.UserDeleted(f"u{i}", reason="test")], 2)
        if i % 10 == 0:  # a type no read model knows (yet)
            await store.append(f"x{i}", [Event("NewsletterSubscribed", f"x{i}", {"topic": "cqrs"})], 0)


async def assert_exact(store, redis, ns) -> None:
    """Every user once with its last version; counts that would double if anything were applied twice."""
    async with store.pool.connection() as conn:
        rows = await (await conn.execute(f'SELECT user_id, version, status FROM "{store.schema}".users_v1')).fetchall()
        signups = (await (await conn.execute(f'SELECT sum(signups) FROM "{store.schema}".signups_by_day')).fetchone())[
            0
        ]
    assert len(rows) == N_USERS
    expected = {
        f"u{i}": (3, "deleted") if i % 6 == 0 else (2, "active") if i % 2 == 0 else (1, "inactive")
        for i in range(N_USERS)
    }
    assert {u: (v, s) for u, v, s in rows} == expected
    assert signups == N_USERS  # an increment per UserCreated: a replayed batch would show here
    counts = await redis.hgetall(ns.key("cqrs", "activity", "counts"))
    assert {k: int(v) for k, v in counts.items()} == {"inactive": 150, "active": 100, "deleted": 50}


@pytest.fixture
async def store(ws_settings):
    s = await open_store(ws_settings)
    yield s
    await s.close()


@pytest.fixture
async def redis(ws_settings):
    r = await connect.redis(ws_settings)
    yield r
    await r.aclose()


async def test_unknown_event_types_are_skipped_and_counted(store, redis, ws_settings):
    await fill(store)
    pg = await PostgresProjector(store, UsersTable(), batch=100).setup()
    rd = await RedisProjector(store, redis, ws_settings.namespace, Activity(), batch=100).setup()
    assert await pg.catch_up() == await store.head() == await rd.catch_up()
    assert pg.stats.skipped == rd.stats.skipped == N_USERS // 10
    saved = await checkpoints.read(store.pool, store.schema)
    assert saved["users_v1"] == {"position": await store.head(), "skipped": N_USERS // 10}
    assert int(await redis.get(ws_settings.namespace.key("cqrs", "activity", "skipped"))) == N_USERS // 10
    assert await pg.catch_up() == 0 and await rd.catch_up() == 0  # nothing new: nothing applied again


@pytest.mark.timeout(120)
async def test_a_projector_killed_mid_run_resumes_with_no_lost_or_doubled_rows(store, redis, ws_settings):
    await fill(store)
    head = await store.head()
    ns = ws_settings.namespace

    async def start():
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "workshop.run.cqrs",
            "projectors",
            "--models",
            "users,signups,activity",
            "--batch",
            "7",
            "--no-bus",
            env=child_env(ws_settings),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert b"projectors:" in line, line
        except BaseException:
            await kill(proc)  # never leave a projector process behind
            raise
        return proc

    async def positions():
        saved = await checkpoints.read(store.pool, store.schema)
        rd = int(await redis.get(ns.key("cqrs", "activity", "checkpoint")) or 0)
        return [saved.get("users_v1", {}).get("position", 0), saved.get("signups_by_day", {}).get("position", 0), rd]

    proc = await start()
    try:  # kill it while all three models are part-way through
        await until(
            lambda: _all_between(positions(), 35, head - 35),
            timeout=30,
            every=0.002,
            what="every model part-way through the feed",
        )
    finally:
        await kill(proc)
    stopped = await positions()
    assert all(0 < p < head for p in stopped), stopped
    proc = await start()
    try:
        await until(lambda: _all_at(positions(), head), timeout=60, what="every model at the head again")
    finally:
        await kill(proc)
    await assert_exact(store, redis, ns)


async def _all_between(positions, low, high) -> bool:
    return all(low <= p <= high for p in await positions)


async def _all_at(positions, head) -> bool:
    return all(p == head for p in await positions)


async def test_two_copies_of_a_projector_never_apply_a_batch_twice(store, redis, ws_settings):
    await fill(store)
    ns = ws_settings.namespace
    copies = [
        p
        for _ in range(2)
        for p in (
            PostgresProjector(store, UsersTable(), batch=13),
            PostgresProjector(store, SignupsByDay(), batch=13),
            RedisProjector(store, redis, ns, Activity(), batch=13),
        )
    ]
    for p in copies:
        await p.setup()
    await asyncio.gather(*(p.catch_up() for p in copies))
    await assert_exact(store, redis, ns)


async def test_the_relay_publishes_the_feed_in_order_and_resumes_after_its_checkpoint(store, ws_settings):
    bus = await RabbitBus.open(ws_settings, validate=users.validate)
    got: list[str] = []

    async def collect(event, delivery):
        got.append(event.event_id)

    try:
        await bus.subscribe("tap", ["user.#"], collect, prefetch=1, durable=False)
        for i in range(30):
            await store.append(f"r{i}", [users.UserCreated(f"r{i}", "A", "B", f"r{i}@example.org")], 0)
        relay = Relay(store, bus, ws_settings, batch=8)
        assert await relay.catch_up() == 30
        assert await Relay(store, bus, ws_settings).catch_up() == 0  # a restarted relay starts after its checkpoint
        await until(lambda: len(got) == 30, what="30 events through the bus")
        assert got == [r.event.event_id for r in await store.read_all(limit=100)]
    finally:
        await bus.close()


class FlakyBus:
    """Publishes by collecting, in the order handed over (one channel); the chunk numbered ``fail`` is
    refused after the next one was handed over (the relay reads ahead while the broker confirms)."""

    def __init__(self, fail: int) -> None:
        self.fail, self.calls, self.got = fail, 0, []
        self.second_started = asyncio.Event()

    async def publish_many(self, items, *, source=""):
        self.calls += 1
        call = self.calls
        if call != self.fail:
            self.got += [e.event_id for _, e in items]  # sent: the confirm comes later
        if call == 2:
            self.second_started.set()
        if call == 1:  # confirmed only once the next chunk is already on its way: pipelined
            await asyncio.wait_for(self.second_started.wait(), 5)
        if call == self.fail:
            await asyncio.sleep(0.05)
            raise ConnectionError("broker gone")
        return len(items)


async def test_the_relay_reads_ahead_but_moves_its_checkpoint_only_past_confirmed_chunks(store, ws_settings):
    for i in range(20):
        await store.append(f"p{i}", [users.UserCreated(f"p{i}", "A", "B", f"p{i}@example.org")], 0)
    records = await store.read_all(limit=100)
    feed = [r.event.event_id for r in records]
    bus = FlakyBus(fail=2)
    relay = Relay(store, bus, ws_settings, batch=5)
    with pytest.raises(ConnectionError):
        await relay.catch_up()
    assert bus.calls >= 3  # the third chunk left before the second was refused
    async with store.pool.connection() as conn:
        assert (
            await checkpoints.read_one(conn, store.schema, "relay") == records[4].position
        )  # past the first chunk only
    assert bus.got == feed[:5] + feed[10:]  # the first and those after the refused one, in order
    again = FlakyBus(fail=0)
    assert await Relay(store, again, ws_settings, batch=5).catch_up() == 15  # from the checkpoint: at least once
    assert again.got == feed[5:]


async def test_a_copy_whose_checkpoint_moved_writes_nothing_and_reads_again(store, redis, ws_settings):
    """The checkpoint's move fails the whole pipelined transaction when another copy got there
    first, also when the model read rows in the same round trip (UsersTable, versions above 1)."""
    await fill(store)
    for model in (UsersTable, SignupsByDay):
        first, second = PostgresProjector(store, model(), batch=13), PostgresProjector(store, model(), batch=13)
        for p in (first, second):
            await p.setup()
        assert await first.step() == 13
        assert await second.step() == 13  # starts where the first one's commit left the checkpoint
        assert await first.step() == 13  # its batch 14..26 is refused; it reads again from 26
        assert await first.position() == 39 and first.stats.batches == 2
        await first.catch_up()
    await RedisProjector(store, redis, ws_settings.namespace, Activity()).catch_up()
    await assert_exact(store, redis, ws_settings.namespace)
