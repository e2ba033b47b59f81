"""``workshop bench replicas`` — chapter 8's costs: what synchronous replication and a failover take.

    workshop bench replicas                  # table on stdout
    workshop bench replicas --json out.json
    workshop bench replicas --quick          # fewer appends (what `workshop bench all` runs)

Each figure stands next to a baseline from the same run:

| figure | baseline (same run) |
|---|---|
| append latency p50 with synchronous replication (``remote_apply``) | appends that do not wait (``synchronous_commit=local``), alternating with them |
| replica lag p50 / p99 (acknowledged on the primary → returned by the replica) | async append latency p50 |
| Patroni failover: SIGKILL → first acknowledged append on the new primary | the leader key's ``ttl`` |
| Sentinel failover: SIGKILL → first ``XADD`` the new master answered | ``down-after-milliseconds`` |

A throw-away two-node Patroni cluster and a Sentinel group are started and stopped by the run
(about a minute, mostly the cluster's start-up). The acknowledged writes each failover lost are
reported too: with asynchronous replication and a slowed link they are not zero.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from workshop.bench._report import parser, save_json
from workshop.config import Namespace, settings


async def run(*, appends: int = 200, log: Callable[[str], Any] = print) -> dict[str, Any]:
    from workshop.replicas.failover import (
        compare_latency,
        kill_primary_under_load,
        open_replica_store,
        open_store,
        replica_lag,
    )
    from workshop.replicas.patroni import PatroniCluster
    from workshop.replicas.sentinel import SentinelGroup, kill_master_under_load

    s = replace(settings(), namespace=Namespace(f"{settings().namespace.name[:30]}_bench8"))
    started = time.monotonic()
    cluster = PatroniCluster()
    async with cluster:
        log(f"Patroni cluster up in {time.monotonic() - started:.0f} s")
        store = await open_store(cluster, s)
        replica = await open_replica_store(cluster, s)
        try:
            lags = sorted(await replica_lag(store, replica, n=appends))
            await replica.close()
            await asyncio.to_thread(cluster.set_synchronous, True)
            local = await open_store(cluster, s, synchronous_commit="local")
            try:  # alternating appends: both see the same noise
                latency = await compare_latency(store, local, n=appends)
            finally:
                await local.close()
            async_lat, sync_lat = latency["async"], latency["sync"]
            await asyncio.to_thread(cluster.set_synchronous, False)
            pg = await kill_primary_under_load(cluster, store, writers=4, warmup=60, frozen=0.5, after=20)
            log(str(pg))
        finally:
            await store.close()
    group = SentinelGroup()
    async with group:
        redis = await kill_master_under_load(group, wait=False, warmup=300, after=100)
        log(str(redis))
    p = lambda q: lags[min(len(lags) - 1, int(len(lags) * q))]  # noqa: E731
    rows = [
        {
            "name": "append latency p50, synchronous (remote_apply)",
            "unit": "ms",
            "value": round(sync_lat["p50"], 2),
            "vs_asynchronous": round(sync_lat["p50"] / async_lat["p50"], 2),
        },
        {"name": "append latency p50, asynchronous", "unit": "ms", "value": round(async_lat["p50"], 2)},
        {
            "name": "replica lag p50",
            "unit": "ms",
            "value": round(p(0.5), 2),
            "vs_async_append_p50": round(p(0.5) / async_lat["p50"], 2),
        },
        {
            "name": "replica lag p99",
            "unit": "ms",
            "value": round(p(0.99), 2),
            "vs_async_append_p50": round(p(0.99) / async_lat["p50"], 2),
        },
        {
            "name": "Patroni failover, kill → first append",
            "unit": "s",
            "value": round(pg.failover_s, 2),
            "vs_leader_ttl": round(pg.failover_s / cluster.ttl, 2),
        },
        {
            "name": "Sentinel failover, kill → first XADD",
            "unit": "s",
            "value": round(redis.failover_s, 2),
            "vs_down_after": round(redis.failover_s / (group.down_after_ms / 1000), 2),
        },
        {"name": "acknowledged appends lost, Patroni asynchronous", "unit": "events", "value": pg.lost},
        {"name": "acknowledged XADDs lost, Sentinel without WAIT", "unit": "entries", "value": redis.lost},
    ]
    return {
        "bench": "replicas",
        "params": {"appends": appends, "ttl_s": cluster.ttl, "down_after_ms": group.down_after_ms},
        "results": rows,
    }


def table(result: dict[str, Any]) -> str:
    lines = [f"{'figure':<50} {'value':>10}  baseline ratio"]
    for r in result["results"]:
        ratio = next((f"{v}x {k[3:].replace('_', ' ')}" for k, v in r.items() if k.startswith("vs_")), "")
        lines.append(f"{r['name']:<50} {r['value']:>8} {r['unit']:<6} {ratio}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    p = parser("replicas", __doc__)
    p.add_argument("--quick", action="store_true", help="fewer appends (100 instead of 300)")
    p.add_argument("--appends", type=int, help="appends per latency and lag run")
    args = p.parse_args(argv)
    appends = args.appends or (100 if args.quick else 300)
    result = asyncio.run(run(appends=appends, log=lambda m: print(m, file=sys.stderr)))
    print(table(result))
    save_json(args.json, result)
    return 0
