"""Kill the primary under load and count what the acknowledged writes became.

    store = await open_store(cluster)                  # the primary, wherever it is
    result = await kill_primary_under_load(cluster, store)
    print(result)   # asynchronous: 1,204 acknowledged, 37 lost; failover 9.8 s (node0 → node1) …

The run: writers append; after ``warmup`` acknowledged appends the primary's WAL senders are
frozen for ``frozen`` seconds (:meth:`PatroniCluster.slow_link`: the replica falls behind as on a
slow network); the primary is SIGKILLed; Patroni promotes the replica; libpq finds it
(``target_session_attrs=read-write``); writers go on until ``after`` more appends were
acknowledged. Then the new primary's feed is audited.

With asynchronous replication the appends acknowledged while the link was slow are gone.
With synchronous replication (``remote_apply``) those appends never returned: the writers
were still waiting when the primary died, so they are *in doubt*, not acknowledged — 0 lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from workshop import connect
from workshop.config import Settings
from workshop.replicas.invariants import Audit, audit, read_feed
from workshop.replicas.load import Load
from workshop.replicas.patroni import PatroniCluster
from workshop.store.postgres import PostgresEventStore, pool_kwargs
from workshop.waiting import until


async def open_store(
    cluster: PatroniCluster,
    s: Settings | None = None,
    *,
    max_size: int = 5,
    synchronous_commit: str | None = None,
    **kw: Any,
) -> PostgresEventStore:
    """Chapter 3's store on the cluster's primary (libpq picks it; after a failover, the new one).

    The pool checks a connection before lending it (psycopg_pool's ``check_connection``, one
    round trip): a pool left idle through a failover still holds connections to the dead
    primary, and would otherwise hand each of them out once, to fail.
    ``synchronous_commit="local"``: this store's commits do not wait for a synchronous standby
    (PostgreSQL lets each session, even each transaction, choose).
    """
    s = cluster.settings(s)
    kwargs = pool_kwargs()
    if synchronous_commit is not None:
        kwargs["options"] += f" -c synchronous_commit={synchronous_commit}"
    pool = await _checked_pool(s, max_size, kwargs)
    store = PostgresEventStore(pool, s.namespace.schema, owns_pool=True, **kw)
    try:
        await store.setup()
    except BaseException:
        await store.close()
        raise
    return store


async def open_replica_store(
    cluster: PatroniCluster, s: Settings | None = None, *, max_size: int = 3, **kw: Any
) -> PostgresEventStore:
    """The same store read from a replica (``target_session_attrs=standby``): reads only.

    No ``setup()``: a hot standby refuses DDL — the tables arrive through replication.
    """
    rs = cluster.settings(s, target="standby")
    pool = await _checked_pool(rs, max_size, pool_kwargs())
    return PostgresEventStore(pool, rs.namespace.schema, owns_pool=True, **kw)


async def _checked_pool(s: Settings, max_size: int, kwargs: dict[str, Any]) -> Any:
    from psycopg_pool import AsyncConnectionPool

    return await connect.postgres_pool(
        s, min_size=1, max_size=max_size, kwargs=kwargs, check=AsyncConnectionPool.check_connection
    )


@dataclass
class FailoverResult:
    mode: str  # "asynchronous" or "synchronous"
    acknowledged: int  # appends the writers were told succeeded
    acked_while_slow: int  # of those, how many while the link was slow
    in_doubt: int  # appends that raised: maybe committed, maybe not
    in_doubt_present: int  # of those, how many the new primary has
    in_doubt_ids: list[str]
    acked_ids: list[str]
    failover_s: float  # SIGKILL → first acknowledged append on the new primary
    old: str
    new: str
    audit: Audit

    @property
    def lost(self) -> int:
        return len(self.audit.lost)

    def __str__(self) -> str:
        return (
            f"{self.mode}: {self.acknowledged:,} acknowledged ({self.acked_while_slow} while the link was slow), "
            f"{self.lost} lost, {len(self.audit.doubled)} doubled | {self.in_doubt} in doubt, "
            f"{self.in_doubt_present} of them committed | failover {self.failover_s:.1f} s "
            f"({self.old} → {self.new}) | feed {'dense' if not self.audit.gaps else 'HAS GAPS'}"
        )


async def kill_primary_under_load(
    cluster: PatroniCluster,
    store: Any,
    *,
    writers: int = 4,
    warmup: int = 100,
    frozen: float = 0.5,
    after: int = 40,
    timeout: float = 90.0,
) -> FailoverResult:
    """Writers append; the link slows; the primary dies (SIGKILL); count what was lost."""
    load = Load.make(store, writers, prefix="failover")
    with quiet_pool():
        return await _run(cluster, store, load, warmup, frozen, after, timeout)


@contextlib.contextmanager
def quiet_pool() -> Iterator[None]:
    """psycopg_pool logs every failed reconnection while there is no primary, psycopg every pipeline
    or cancellation the dead server broke: expected here."""
    loggers = [logging.getLogger(name) for name in ("psycopg", "psycopg.pool")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


async def _run(
    cluster: PatroniCluster, store: Any, load: Load, warmup: int, frozen: float, after: int, timeout: float
) -> FailoverResult:
    stop = asyncio.Event()
    task = asyncio.create_task(load.run_until(stop), name="failover writers")
    try:
        await until(lambda: len(load.acks) >= warmup, timeout=timeout, what=f"{warmup} appends before the fault")
        old = await asyncio.to_thread(cluster.leader)
        if old is None:
            raise RuntimeError("the cluster has no primary to kill")
        before = len(load.acks)
        with cluster.slow_link():
            await asyncio.sleep(frozen)
            slow = len(load.acks) - before
            killed_at = await asyncio.to_thread(cluster.kill, old)
        new = await cluster.wait_for_leader(other_than=old.name, timeout=timeout)
        await until(
            lambda: load.acked_since(killed_at) >= after,
            timeout=timeout,
            what=f"{after} appends on the new primary",
            detail=lambda: writers_error(load),
        )
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.shield(task), timeout)
    feed = await read_feed(store)
    present = {r.event.event_id for r in feed}
    first = load.first_ack_after(killed_at) or killed_at
    return FailoverResult(
        "synchronous" if cluster.synchronous else "asynchronous",
        len(load.acks),
        slow,
        len(load.in_doubt),
        sum(1 for e in load.in_doubt if e in present),
        load.in_doubt,
        [a.event_id for a in load.acks],
        first - killed_at,
        old.name,
        new.name,
        audit([a.event_id for a in load.acks], feed),
    )


def writers_error(load: Load) -> str:
    errors = [w.last_error for w in load.writers if w.last_error]
    return f"{load.acked_since(0)} acknowledged so far; last error: {errors[-1] if errors else 'none'}"


async def append_latency(store: Any, n: int = 100, writers: int = 1) -> dict[str, float]:
    """p50 / p99 of single-event appends (ms) with ``writers`` concurrent writers."""
    load = Load.make(store, writers, prefix="latency")
    for i in range(n):
        await asyncio.gather(*(w.append_one(i) for w in load.writers))
    lat = sorted(a.latency * 1000 for a in load.acks)
    return {"n": len(lat), "p50": statistics.median(lat), "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))]}


async def compare_latency(waiting: Any, local: Any, n: int = 100) -> dict[str, Any]:
    """Append latency of two stores on the same primary, alternating one append each (same noise for both).

    ``waiting`` commits wait for the synchronous standby, ``local`` ones do not; returns both
    ``{"n", "p50", "p99"}`` and ``ratio`` (p50 waiting / p50 local).
    """
    a, b = Load.make(waiting, 1, prefix="sync"), Load.make(local, 1, prefix="local")
    for i in range(n):
        await a.writers[0].append_one(i)
        await b.writers[0].append_one(i)
    out: dict[str, Any] = {}
    for name, load in (("sync", a), ("async", b)):
        lat = sorted(x.latency * 1000 for x in load.acks)
        out[name] = {"n": len(lat), "p50": statistics.median(lat), "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))]}
    out["ratio"] = out["sync"]["p50"] / out["async"]["p50"]
    return out


async def replica_lag(primary: Any, replica: Any, n: int = 100) -> list[float]:
    """For ``n`` appends: ms from the primary's acknowledgement until the replica returns the event."""
    load = Load.make(primary, 1, prefix="lag")
    w = load.writers[0]
    lags = []
    for i in range(n):
        ack = await w.append_one(i)
        if ack is None:
            continue
        await until(
            functools.partial(has_version, replica, ack.stream_id, ack.version),
            timeout=10,
            every=0.001,
            what=f"the replica to replay {ack.stream_id} version {ack.version}",
        )
        lags.append((time.monotonic() - ack.at) * 1000)
    return lags


async def has_version(replica: Any, stream_id: str, version: int) -> bool:
    """Has the replica replayed ``stream_id`` up to ``version``? (``False`` while even the table is missing.)"""
    import psycopg

    try:
        return await replica.version(stream_id) >= version
    except psycopg.errors.UndefinedTable:  # the CREATE TABLE itself is still on its way
        return False
