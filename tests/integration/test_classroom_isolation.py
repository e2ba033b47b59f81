"""Two provisioned learners on the real servers: each works in its own namespace and is refused
by the server everywhere else (one test per service), with its own credentials only — and the
attacks of issue #22 that need no hub, each performed and expected to fail (docs/classroom.md,
the attack table). Shared servers are only given per-test roles, databases, vhosts and ACL users;
what needs a server configured differently (Redis maxmemory) runs on a throw-away one."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import aio_pika
import aiohttp
import aiormq
import psycopg
import pytest
import redis
from redis.exceptions import NoPermissionError

from workshop.classroom import postgres, provision, rabbitmq, redis_acl
from workshop.classroom.learners import Roster
from workshop.config import settings
from workshop.infra.probes import split_auth
from workshop.process import Server, free_port, port_open


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """``(alice, bob)``: two fresh learners with random names, removed afterwards."""
    admin = settings()
    provision.prepare(admin)
    roster = Roster(tmp_path_factory.mktemp("classroom"))
    tag = uuid.uuid4().hex[:6]
    learners = [
        provision.provision(admin, roster.ensure(f"ta{tag}")),
        provision.provision(admin, roster.ensure(f"tb{tag}")),
    ]
    yield [(learner, learner.env(admin)) for learner in learners]
    for learner in learners:
        provision.remove(admin, learner)


def test_postgres_own_schema_works_and_others_are_refused(pair):
    (alice, alice_env), (bob, bob_env) = pair
    with psycopg.connect(bob_env["DATABASE_URL"], autocommit=True, connect_timeout=5) as bob_db:
        bob_db.execute("CREATE TABLE secrets (x text)")  # in bob's schema: his search_path
        bob_db.execute("INSERT INTO secrets VALUES ('bob only')")
    # bob's database is closed to alice at the door, with her password or without
    bobs_db = alice_env["DATABASE_URL"].rsplit("/", 1)[0] + "/" + bob.database
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(bobs_db, connect_timeout=5)
    with psycopg.connect(alice_env["DATABASE_URL"], autocommit=True, connect_timeout=5) as db:
        # what the chapters do: tables in the namespace's schema and in child schemas
        db.execute(f'CREATE SCHEMA "{alice.account}_ch03"')
        db.execute(f'CREATE TABLE "{alice.account}_ch03".events (id bigserial PRIMARY KEY, body jsonb)')
        db.execute(f'INSERT INTO "{alice.account}_ch03".events (body) VALUES (%s)', ('{"a": 1}',))
        assert db.execute(f'SELECT count(*) FROM "{alice.account}_ch03".events').fetchone() == (1,)
        db.execute(f'DROP SCHEMA "{alice.account}_ch03" CASCADE')  # the notebooks' reset
        refused = [
            "CREATE TABLE public.anything (x int)",  # use public
            "CREATE SCHEMA workshop_admin",  # the instructor's schema in her database
            "CREATE FUNCTION workshop_admin.f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
            "DROP EVENT TRIGGER workshop_refuse_extensions",
            "ALTER ROLE ws_nobody_else SUPERUSER",
        ]
        for sql in refused:
            with pytest.raises(psycopg.Error) as err:
                db.execute(sql)
            assert isinstance(
                err.value,
                (psycopg.errors.InsufficientPrivilege, psycopg.errors.DuplicateSchema, psycopg.errors.UndefinedObject),
            ), sql
        # a schema named after bob's namespace is hers, in her database: bob's is untouched
        db.execute(f'CREATE SCHEMA "{bob.account}_ch01"')
    with psycopg.connect(bob_env["DATABASE_URL"], autocommit=True, connect_timeout=5) as bob_db:
        assert bob_db.execute("SELECT x FROM secrets").fetchall() == [("bob only",)]
        assert bob_db.execute("SELECT to_regnamespace(%s)", (f"{bob.account}_ch01",)).fetchone() == (None,)


TRAP_TYPES = ("text", "name", "oid", "regrole", "regnamespace", "integer", "bigint", "boolean")


def test_attack1_objects_a_learner_plants_never_run_as_the_instructor(pair):
    """Attack 1: operators and functions named like the built-ins, in schemas ``ws_alice`` and
    ``postgres`` (the instructor's "$user"), recording who calls them; then the instructor re-runs
    everything ``workshop classroom up``/``status`` do. Nothing may run as anyone but alice."""
    (alice, alice_env), _ = pair
    admin = settings()
    with psycopg.connect(alice_env["DATABASE_URL"], autocommit=True, connect_timeout=5) as db:
        db.execute("CREATE TABLE hits (who text, at text)")
        db.execute("GRANT INSERT ON hits TO PUBLIC")
        db.execute(f"GRANT USAGE ON SCHEMA {alice.account} TO PUBLIC")
        db.execute("CREATE SCHEMA postgres")
        db.execute("GRANT USAGE ON SCHEMA postgres TO PUBLIC")
        for schema in (alice.account, "postgres"):
            for t in TRAP_TYPES:
                db.execute(f"""CREATE FUNCTION {schema}.trap_eq(a {t}, b {t}) RETURNS boolean LANGUAGE plpgsql AS $$
                    BEGIN INSERT INTO {alice.account}.hits VALUES (current_user, '{schema}.= {t}');
                          RETURN a OPERATOR(pg_catalog.=) b; END $$""")
                db.execute(f"CREATE OPERATOR {schema}.= (LEFTARG = {t}, RIGHTARG = {t}, FUNCTION = {schema}.trap_eq)")
                db.execute(f"CREATE OPERATOR {schema}.<> (LEFTARG = {t}, RIGHTARG = {t}, FUNCTION = {schema}.trap_eq)")
            for fn, args in (
                ("left", "a text, n integer"),
                ("length", "a text"),
                ("lower", "a text"),
                ("current_setting", "a text"),
                ("pg_terminate_backend", "a integer"),
            ):
                db.execute(f"""CREATE FUNCTION {schema}.{fn}({args}) RETURNS text LANGUAGE plpgsql AS $$
                    BEGIN INSERT INTO {alice.account}.hits VALUES (current_user, '{schema}.{fn}'); RETURN ''; END $$""")
        # the traps work: a session that resolves names in her schemas calls them
        db.execute(f"SET search_path = postgres, {alice.account}, pg_catalog")
        db.execute("SELECT 'a'::text = 'a'::text")
        assert db.execute(f"SELECT who FROM {alice.account}.hits").fetchall() == [(alice.account,)]
        db.execute(f"DELETE FROM {alice.account}.hits")
    # the instructor: up again (twice), status (its size watch), the doors check
    provision.prepare(admin)
    provision.provision(admin, alice)
    provision.provision(admin, alice)
    provision.watch(admin, [alice])
    postgres.connection_budget(admin.database_url, [alice])
    with psycopg.connect(alice_env["DATABASE_URL"], autocommit=True, connect_timeout=5) as db:
        assert db.execute(f"SELECT who, at FROM {alice.account}.hits").fetchall() == []
        # and nothing of the instructor's was created in a schema she owns
        assert db.execute(
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspowner = current_user::regrole AND p.proowner <> current_user::regrole"
        ).fetchone() == (0,)
        db.execute("DROP SCHEMA postgres CASCADE")
        db.execute("DROP TABLE hits")
        for t in TRAP_TYPES:
            db.execute(f"DROP FUNCTION trap_eq({t}, {t}) CASCADE")
        for fn in (
            "left(text, integer)",
            "length(text)",
            "lower(text)",
            "current_setting(text)",
            "pg_terminate_backend(integer)",
        ):
            db.execute(f"DROP FUNCTION {alice.account}.{fn}")


def test_attack6_trusted_extensions_are_refused(pair):
    """Attack 6: a trusted extension's script runs as a superuser; hstore into public, or taking a name."""
    (alice, alice_env), _ = pair
    with psycopg.connect(alice_env["DATABASE_URL"], autocommit=True, connect_timeout=5) as db:
        for sql in (
            "CREATE EXTENSION hstore",
            "CREATE EXTENSION hstore SCHEMA public",
            f"CREATE EXTENSION pgcrypto SCHEMA {alice.account}",
            "CREATE LANGUAGE plperl",
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="extensions are not available"):
                db.execute(sql)
        assert db.execute("SELECT count(*) FROM pg_extension WHERE extname <> 'plpgsql'").fetchone() == (0,)


@pytest.fixture
def capped(tmp_path):
    """One learner with caps small enough to reach in a test (the defaults are postgres.CAPS & co.)."""
    admin = settings()
    provision.prepare(admin)
    learner = Roster(tmp_path).ensure(f"tc{uuid.uuid4().hex[:6]}")
    caps = postgres.Caps(connections=3, temp_file_limit="1MB", statement_timeout="1s", size_limit_mib=1)
    provision.provision(
        admin,
        learner,
        pg_caps=caps,
        queue_caps={"max-length": 20, "max-length-bytes": 8192},
        user_caps={"max-channels": 5},
    )
    try:
        yield learner, learner.env(admin), caps
    finally:
        provision.remove(admin, learner)


def test_attack8_postgres_caps_hold(capped):
    """Attack 8 (PostgreSQL): temp files, endless statements, connections, and a database that grows."""
    learner, env, caps = capped
    admin = settings()
    url = env["DATABASE_URL"]
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as db:
        db.execute("SET work_mem = '64kB'")
        with pytest.raises(psycopg.errors.ConfigurationLimitExceeded, match="temp_file_limit"):
            db.execute("SELECT count(*) FROM (SELECT g FROM generate_series(1, 500000) g ORDER BY g DESC) s")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute("SET temp_file_limit = '10GB'")  # only a superuser may raise it
        with pytest.raises(psycopg.errors.QueryCanceled):
            db.execute("SELECT pg_sleep(5)")  # statement_timeout 1 s (a default: see docs/classroom.md)
        extra = [psycopg.connect(url, connect_timeout=5) for _ in range(caps.connections - 1)]
        try:
            with pytest.raises(psycopg.OperationalError, match="too many connections for role"):
                psycopg.connect(url, connect_timeout=5)
        finally:
            for conn in extra:
                conn.close()
        db.execute("CREATE TABLE big AS SELECT g, repeat('x', 500) AS pad FROM generate_series(1, 5000) g")  # ~3 MiB
    report = provision.watch(admin, [learner], limit_mib=caps.size_limit_mib)
    assert report[learner.name]["over"] and report[learner.name]["frozen"], report
    with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
        psycopg.connect(url, connect_timeout=5)  # her writes are refused from now on; the data is kept
    assert provision.reset(admin, learner)["schemas"] == 1
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as db:  # reset: empty, and in again
        assert db.execute("SELECT to_regclass('big')").fetchone() == (None,)
    needed, available = postgres.connection_budget(admin.database_url, [])
    assert needed >= caps.connections and available > 0  # every learner role is counted


def test_rabbitmq_own_vhost_works_and_others_are_refused(pair):
    (alice, alice_env), (bob, bob_env) = pair

    async def scenario():
        conn = await aio_pika.connect(alice_env["AMQP_URL"], timeout=5)
        async with conn:  # the chapters' operations: topic exchange, durable queue, default-exchange retry
            ch = await conn.channel()
            events = await ch.declare_exchange(
                alice.namespace.amqp("events"), aio_pika.ExchangeType.TOPIC, durable=True
            )
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
            ("GET", bob.namespace.key("secret")),
            ("DEL", bob.namespace.key("secret")),
            ("XADD", bob.namespace.key("s"), "*", "a", "1"),
            ("PUBLISH", bob.namespace.key("user_events"), "x"),
            ("KEYS", "*"),
            ("FLUSHALL",),
            ("FLUSHDB",),
            ("CONFIG", "GET", "maxmemory"),
            ("ACL", "LIST"),
            ("CLIENT", "LIST"),
            ("MONITOR",),
            ("FUNCTION", "FLUSH"),
            ("SHUTDOWN",),
            # attack 7: a script runs in the server's one thread; an endless one answers BUSY to everyone
            ("EVAL", "while true do end", "0"),
            ("EVALSHA", "0" * 40, "0"),
            ("SCRIPT", "LOAD", "return 1"),
            ("FUNCTION", "LOAD", "#!lua name=x\nredis.register_function('f', function() while true do end end)"),
            ("FCALL", "f", "0"),
            ("EVAL_RO", "return 1", "0"),
            ("SCRIPT", "KILL"),
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


def test_attack8_rabbitmq_queues_and_channels_are_capped(capped):
    """Attack 8 (RabbitMQ): a queue that grows without end (the memory alarm blocks every publisher),
    asked for with a huge x-max-length of its own; channels by the thousand; her own policy."""
    learner, env, _ = capped

    async def scenario():
        conn = await aio_pika.connect(env["AMQP_URL"], timeout=5)
        try:
            ch = await conn.channel()
            queue = await ch.declare_queue(learner.namespace.amqp("flood"), arguments={"x-max-length": 10**9})
            for _ in range(100):
                await ch.default_exchange.publish(aio_pika.Message(b"x" * 200), queue.name)
            again = await ch.declare_queue(queue.name, passive=True)
            count = again.declaration_result.message_count
            assert count <= 20, count  # the operator policy's cap wins over her argument (and 20 x 200 B < 8 KiB)
            with pytest.raises(aio_pika.exceptions.AMQPError, match="number of channels"):
                for _ in range(10):
                    await conn.channel()
        finally:
            with contextlib.suppress(aio_pika.exceptions.AMQPError):  # the broker closed it for the channel limit
                await conn.close()
        base, headers = split_auth(env["RABBITMQ_MANAGEMENT_URL"])
        async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=5)) as http:
            root = f"{base.rstrip('/')}/api"
            policy = {"pattern": ".*", "apply-to": "queues", "definition": {"max-length": 10**9}}
            async with http.put(f"{root}/policies/{learner.account}/mine", json=policy) as resp:
                assert resp.status in (401, 403)  # no policymaker tag
            async with http.delete(f"{root}/operator-policies/{learner.account}/workshop-caps") as resp:
                assert resp.status in (401, 403)
            async with http.put(f"{root}/user-limits/{learner.account}/max-channels", json={"value": 5000}) as resp:
                assert resp.status in (401, 403)

    asyncio.run(scenario())


def test_rabbitmq_door_when_a_class_could_trip_the_memory_alarm():
    admin = settings()

    def alarm_doors(learners: int) -> list[str]:
        doors = asyncio.run(rabbitmq.open_doors(admin.amqp_url, admin.rabbitmq_management_url, learners))
        return [d for d in doors if "memory alarm" in d]

    assert alarm_doors(1) == []  # 800 MiB fits this broker's memory limit
    assert "1000 learners' queues may hold 781.2 GiB" in alarm_doors(1000)[0]


@contextlib.contextmanager
def throwaway_redis(directory, *options: str):
    """A redis-server on a free loopback port (``process.Server``: waited for, always stopped); yields its port."""
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(directory), *options]  # fmt: skip
    with Server("a throw-away redis-server", argv, ready=lambda: port_open("127.0.0.1", port),
                log=directory / "redis.out", startup_timeout=10):  # fmt: skip
        yield port


@pytest.fixture
def private_redis(tmp_path):
    """A throw-away redis-server (4 MB maxmemory, noeviction, an admin password) on a free port."""
    options = ("--maxmemory", "4mb", "--maxmemory-policy", "noeviction", "--requirepass", "adm1n")
    with throwaway_redis(tmp_path, *options) as port:
        yield f"redis://default:adm1n@127.0.0.1:{port}/0", port


def test_attack8_redis_memory_is_capped_and_the_server_stays_up(private_redis, tmp_path):
    url, port = private_redis
    roster = Roster(tmp_path)
    alice, bob = roster.ensure("alice"), roster.ensure("bob")
    for learner in (alice, bob):
        redis_acl.add(url, learner)
    assert redis_acl.open_doors(url) == []  # a password and a maxmemory: both doors closed
    as_alice = redis.Redis(port=port, username=alice.account, password=alice.redis, socket_timeout=5)
    as_bob = redis.Redis(port=port, username=bob.account, password=bob.redis, socket_timeout=5)
    as_bob.set(bob.namespace.key("work"), "kept")
    with pytest.raises(redis.exceptions.ResponseError, match="maxmemory"):  # OOM: refused, not evicted
        for i in range(200):  # 200 x 64 KiB = 12.5 MiB into a 4 MB server
            as_alice.set(alice.namespace.key(f"flood{i}"), b"x" * 65536)
    assert as_bob.ping() and as_bob.get(bob.namespace.key("work")) == b"kept"  # up, and bob's data intact
    assert redis_acl.reset(url, alice) > 0
    as_bob.set(bob.namespace.key("more"), "writes work again")
    admin = redis.Redis.from_url(url, socket_timeout=5)
    admin.config_set("maxmemory-policy", "allkeys-lru")  # this throw-away server only
    assert "silently delete classmates' keys" in " ".join(redis_acl.open_doors(url))
    admin.close()
    as_alice.close()
    as_bob.close()


def test_redis_doors_name_a_passwordless_default_user_and_a_missing_maxmemory(tmp_path):
    with throwaway_redis(tmp_path) as port:
        doors = redis_acl.open_doors(f"redis://127.0.0.1:{port}/0")
    assert len(doors) == 2 and "default user needs no password" in doors[0] and "no maxmemory" in doors[1]
