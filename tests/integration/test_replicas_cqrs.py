"""Chapter 4's CQRS side on a Patroni cluster: the primary SIGKILLed under command load.

The write side, the relay and the projectors run on the cluster (libpq finds the primary:
``target_session_attrs=read-write``); clients send the same command again, same id, when the
primary died under it. After the failover: acknowledged commands lost (async: some; sync: 0),
the feed dense, no event doubled, every read model equal to a replay of the feed — a Redis
model whose checkpoint got ahead of the new primary is rebuilt — and a stale expected version
still refused. Before the failover, the read API on the replica: ``?after=`` waits for it.
Each test starts its own cluster and checks that none of its processes is left.
"""

from __future__ import annotations

import asyncio

import pytest

from workshop.cqrs import CqrsSystem, CreateUser
from workshop.cqrs.cache import UserCache
from workshop.replicas.invariants import read_feed
from workshop.replicas.patroni import PatroniCluster, missing_binaries
from workshop.replicas.procs import leftovers
from workshop.replicas.projections import (
    compare_models,
    kill_primary_under_commands,
    read_api_on_replica,
    rebuild_redis_model,
)
from workshop.waiting import until

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(bool(missing_binaries()), reason="patroni/etcd not installed (workshop setup)"),
]


async def test_sync_failover_loses_no_command_and_every_model_equals_a_replay(ws_settings):
    async with PatroniCluster(synchronous=True) as cluster:
        async with CqrsSystem(cluster.settings(ws_settings), bus_kind="memory") as cqrs:
            result = await kill_primary_under_commands(cluster, cqrs, clients=3, warmup=40, after=20)
            assert result.new == "node1"
            assert not result.lost, str(result)
            assert not result.audit.doubled and not result.audit.gaps  # retried commands applied once
            assert not result.rejected
            assert result.models == {"users_v1": True, "activity": True, "cache": True}, str(result)
            assert not result.ahead  # nothing was visible that the standby did not have
            assert sum(result.errors.values()) > 0  # the projectors did fail meanwhile, and resumed
            assert result.stale_refused
            head = await cqrs.store.head()

            async def relay_caught_up() -> bool:  # its LISTEN connection died with the primary: it reconnected
                return (await cqrs.checkpoints())["relay"]["position"] >= head

            await until(relay_caught_up, timeout=30, what="the relay to publish the new primary's feed")
            # a replacement for the dead primary: cloned from the new one, synchronous standby again
            await asyncio.to_thread(cluster.rejoin, "node0")
            assert {m["name"]: m["role"] for m in cluster.members()}["node0"] == "sync_standby"
            accepted = await cqrs.send(
                CreateUser(user_id="bob", first_name="Bob", last_name="B", email="b@example.org")
            )
            assert accepted.events == 1  # committed: the rejoined standby applied it
        home, pids = cluster.home, set(cluster._pids)
    assert not leftovers(pids, home)  # no etcd, Patroni or postgres process left


async def test_async_failover_puts_redis_checkpoints_ahead_until_rebuilt(ws_settings):
    async with PatroniCluster() as cluster:
        async with CqrsSystem(cluster.settings(ws_settings), bus_kind="memory") as cqrs:
            # read your writes from the replica: missing while the link is slow, there once it replayed
            async with read_api_on_replica(cluster, cqrs) as api:
                with cluster.slow_link():
                    accepted = await cqrs.send(
                        CreateUser(user_id="ada", first_name="Ada", last_name="L", email="ada@example.org")
                    )
                    await cqrs.wait_visible(accepted.position)  # on the primary
                    assert (await api.get("/users/ada")).status_code == 404
                    behind = await api.get("/users/ada", params={"after": accepted.position, "wait": 0.3})
                    assert behind.status_code == 409 and behind.headers["Retry-After"]
                there = await api.get("/users/ada", params={"after": accepted.position, "wait": 5})
                assert there.status_code == 200 and there.json()["version"] == 1

            result = await kill_primary_under_commands(cluster, cqrs, clients=3, warmup=40, after=20)
            assert result.lost, str(result)  # acknowledged, then gone
            assert not result.audit.doubled and not result.audit.gaps
            assert result.models["users_v1"], str(result)  # its checkpoint travelled with the feed
            assert result.ahead  # the Redis checkpoints had passed the new primary's head …
            for name in result.ahead:
                assert not result.models[name], str(result)  # … so those models skipped events
                await rebuild_redis_model(cqrs, name)
            await cqrs.wait_visible(await cqrs.store.head(), timeout=30)
            assert all((await compare_models(cqrs, await read_feed(cqrs.store))).values())
            if "cache" in result.ahead:  # the cached users went with the floors (GET /users/ada cached one)
                assert not await cqrs.redis.exists(UserCache(cqrs.redis, cqrs.settings.namespace).body_key("ada"))
            assert result.stale_refused
        home, pids = cluster.home, set(cluster._pids)
    assert not leftovers(pids, home)
