"""Two provisioned learners on the real servers: each works in its own namespace and is refused
by the server everywhere else (one test per service), with its own credentials only."""

from __future__ import annotations

import asyncio
import uuid

import aio_pika
import aiormq
import aiohttp
import psycopg
import pytest
import redis
from redis.exceptions import NoPermissionError

from workshop.classroom import provision
from workshop.classroom.learners import Roster
from workshop.config import settings
from workshop.infra.probes import split_auth


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """``(alice, bob)``: two fresh learners with random names, removed afterwards."""
    admin = settings()
    provision.prepare(admin)
    roster = Roster(tmp_path_factory.mktemp("classroom"))
    tag = uuid.uuid4().hex[:6]
    learners = [provision.provision(admin, roster.ensure(f"ta{tag}")), provision.provision(admin, roster.ensure(f"tb{tag}"))]
    yield [(learner, learner.env(admin)) for learner in learners]
    for learner in learners:
        provision.remove(admin, learner)


def test_postgres_own_schema_works_and_others_are_refused(pair):
    (alice, alice_env), (bob, bob_env) = pair
    with psycopg.connect(bob_env["DATABASE_URL"], autocommit=True, connect_timeout=5) as bob_db:
        bob_db.execute("CREATE TABLE secrets (x text)")  # in bob's schema: his search_path
        bob_db.execute("INSERT INTO secrets VALUES ('bob only')")
    with psycopg.connect(alice_env["DATABASE_URL"], autocommit=True, connect_timeout=5) as db:
        # what the chapters do: tables in the namespace's schema and in child schemas
        db.execute(f'CREATE SCHEMA "{alice.account}_ch03"')
        db.execute(f'CREATE TABLE "{alice.account}_ch03".events (id bigserial PRIMARY KEY, body jsonb)')
        db.execute(f'INSERT INTO "{alice.account}_ch03".events (body) VALUES (%s)', ('{"a": 1}',))
        assert db.execute(f'SELECT count(*) FROM "{alice.account}_ch03".events').fetchone() == (1,)
        db.execute(f'DROP SCHEMA "{alice.account}_ch03" CASCADE')  # the notebooks' reset
        refused = [
            f'SELECT * FROM "{bob.account}".secrets',        # read another learner's schema
            f'CREATE TABLE "{bob.account}".mine (x int)',    # write into it
            f'DROP SCHEMA "{bob.account}" CASCADE',          # drop it
            f'CREATE SCHEMA "{bob.account}_ch01"',           # squat a name of bob's namespace
            "CREATE TABLE public.anything (x int)",          # use public
        ]
        for sql in refused:
            with pytest.raises(psycopg.Error) as err:
                db.execute(sql)
            assert isinstance(err.value, (psycopg.errors.InsufficientPrivilege, psycopg.errors.RaiseException)), sql


def test_rabbitmq_own_vhost_works_and_others_are_refused(pair):
    (alice, alice_env), (bob, bob_env) = pair

    async def scenario():
        conn = await aio_pika.connect(alice_env["AMQP_URL"], timeout=5)
        async with conn:  # the chapters' operations: topic exchange, durable queue, default-exchange retry
            ch = await conn.channel()
            events = await ch.declare_exchange(alice.namespace.amqp("events"), aio_pika.ExchangeType.TOPIC, durable=True)
            queue = await ch.declare_queue(alice.namespace.amqp("orders"), durable=True)
            await queue.bind(events, "order.*")
            await events.publish(aio_pika.Message(b"1"), "order.created")
            await ch.default_exchange.publish(aio_pika.Message(b"2"), queue.name)
            got = [await queue.get(timeout=5), await queue.get(timeout=5)]
            assert [m.body for m in got] == [b"1", b"2"]
            for m in got:
                await m.ack()
        # bob's vhost is closed to alice: no binding to his exchange, no consuming his queue
        bob_vhost = alice_env["AMQP_URL"].rsplit("/", 1)[0] + "/" + bob.account
        # RabbitMQ answers the vhost's Connection.Open with Connection.Close (NOT_ALLOWED); aiormq reports
        # that frame, not its reply text
        with pytest.raises(aiormq.exceptions.InvalidFrameError, match=r"OpenOk.*got <Connection\.Close"):
            await aio_pika.connect(bob_vhost, timeout=5)
        # the management API (alice has the management tag) does not show bob's vhost either
        base, headers = split_auth(alice_env["RABBITMQ_MANAGEMENT_URL"])
        async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=5)) as http:
            async with http.get(f"{base.rstrip('/')}/api/queues/{bob.account}") as resp:
                assert resp.status in (401, 403)
            async with http.get(f"{base.rstrip('/')}/api/vhosts") as resp:
                assert [v["name"] for v in await resp.json()] == [alice.account]
            async with http.put(f"{base.rstrip('/')}/api/vhosts/{alice.account}x", json={}) as resp:
                assert resp.status in (401, 403)  # not an administrator

    asyncio.run(scenario())


def test_redis_own_prefix_works_and_others_are_refused(pair):
    (alice, alice_env), (bob, bob_env) = pair
    r_bob = redis.Redis.from_url(bob_env["REDIS_URL"], socket_timeout=5)
    r = redis.Redis.from_url(alice_env["REDIS_URL"], socket_timeout=5)
    try:
        r_bob.set(bob.namespace.key("secret"), "bob only")
        # the chapters' operations, in alice's namespace and its child namespaces
        stream = alice.namespace.child("ch02").key("events")
        r.xadd(stream, {"event": "{}"})
        r.xgroup_create(stream, "projector", id="0")
        assert len(r.xreadgroup("projector", "c1", {stream: ">"}, count=10)[0][1]) == 1
        r.publish(alice.namespace.key("user_events"), "hello")
        sub = r.pubsub()
        sub.psubscribe(alice.namespace.child("ch02").key("*_events"))  # chapter 2's pattern, granted literally
        sub.close()
        assert r.info("server")["redis_version"]  # the doctor's probe
        refused = [
            ("GET", bob.namespace.key("secret")), ("DEL", bob.namespace.key("secret")),
            ("XADD", bob.namespace.key("s"), "*", "a", "1"), ("PUBLISH", bob.namespace.key("user_events"), "x"),
            ("KEYS", "*"), ("FLUSHALL",), ("FLUSHDB",), ("CONFIG", "GET", "maxmemory"), ("ACL", "LIST"),
            ("CLIENT", "LIST"), ("MONITOR",), ("FUNCTION", "FLUSH"), ("SHUTDOWN",),
        ]
        for command in refused:
            with pytest.raises(NoPermissionError):
                r.execute_command(*command)
        sub = r.pubsub()
        with pytest.raises(NoPermissionError):
            sub.subscribe(bob.namespace.key("user_events"))
            sub.get_message(timeout=2)
        sub.close()
        assert r_bob.get(bob.namespace.key("secret")) == b"bob only"
    finally:
        r.close()
        r_bob.close()


def test_a_learner_password_is_checked_where_the_server_asks_for_one(pair):
    """RabbitMQ and Redis check passwords always; alice's password is not bob's."""
    (alice, alice_env), (bob, bob_env) = pair
    wrong = bob_env["REDIS_URL"].replace(bob.redis, alice.redis)
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis.from_url(wrong, socket_timeout=5).ping()

    async def amqp_wrong():
        with pytest.raises(aiormq.exceptions.ProbableAuthenticationError, match="ACCESS_REFUSED"):
            await aio_pika.connect(bob_env["AMQP_URL"].replace(bob.rabbitmq, alice.rabbitmq), timeout=5)

    asyncio.run(amqp_wrong())
