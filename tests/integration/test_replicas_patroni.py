"""Kill the Patroni primary (SIGKILL) under load: count acknowledged appends lost, async vs sync.

Each test starts its own throw-away cluster (etcd, a primary, a streaming replica on free
ports) and checks afterwards that none of its processes is left. The machine's PostgreSQL on
5432 is never touched.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from workshop.config import settings
from workshop.events import Event
from workshop.replicas.failover import has_version, kill_primary_under_load, open_replica_store, open_store
from workshop.replicas.invariants import check
from workshop.replicas.patroni import PatroniCluster, missing_binaries
from workshop.replicas.procs import leftovers
from workshop.store.base import ConcurrencyError
from workshop.waiting import until

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(bool(missing_binaries()), reason="patroni/etcd not installed (workshop setup)"),
]


def _s(namespace):
    return replace(settings(), namespace=namespace)


async def _stale_version_is_refused(store) -> None:
    """Optimistic concurrency survives the failover: a writer with an old version is told so."""
    stream = "after-failover"
    await store.append(stream, [Event("Ticked", stream, {"i": 0})], 0)
    await store.append(stream, [Event("Ticked", stream, {"i": 1})], 1)
    with pytest.raises(ConcurrencyError):
        await store.append(stream, [Event("Ticked", stream, {"i": 2})], 1)


async def test_async_replication_loses_what_the_slow_link_held(namespace):
    async with PatroniCluster() as cluster:
        assert all(n.pg_port != 5432 for n in cluster.nodes)
        store = await open_store(cluster, _s(namespace))
        replica = await open_replica_store(cluster, _s(namespace))
        try:
            # read-your-writes across a replica: the write is there only once the replica replayed it
            version = await store.append("ryw", [Event("Ticked", "ryw", {"i": 0})], 0)
            await until(
                lambda: has_version(replica, "ryw", version), timeout=30, what="the replica to replay the write"
            )
            await replica.close()
            result = await kill_primary_under_load(cluster, store, writers=3, warmup=60, frozen=0.5, after=30)
            assert result.old == "node0" and result.new == "node1"
            assert result.acked_while_slow > 0
            assert 0 < result.lost <= result.acknowledged  # acknowledged, then gone
            assert not result.audit.doubled and not result.audit.gaps  # the feed is still dense
            assert set(result.audit.lost).isdisjoint(result.in_doubt_ids)
            await _stale_version_is_refused(store)
            report = await check(store, [])
            assert not report.gaps
        finally:
            await store.close()
        home, pids = cluster.home, set(cluster._pids)
    assert not leftovers(pids, home)  # no etcd, Patroni or postgres process left


async def test_sync_replication_loses_nothing(namespace):
    async with PatroniCluster(synchronous=True) as cluster:
        assert any(m["role"] == "sync_standby" for m in cluster.members())
        store = await open_store(cluster, _s(namespace))
        try:
            result = await kill_primary_under_load(cluster, store, writers=3, warmup=60, frozen=0.5, after=30)
            assert result.new == "node1"
            assert result.lost == 0, str(result)
            assert result.audit.ok, str(result.audit)
            assert result.in_doubt > 0  # the writers were waiting for the replica when the primary died
            await _stale_version_is_refused(store)
        finally:
            await store.close()
        home, pids = cluster.home, set(cluster._pids)
    assert not leftovers(pids, home)
