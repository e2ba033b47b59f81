"""``workshop bench cluster``: what replication and partitions cost and give, on a throw-away cluster.

Starts three RabbitMQ nodes on this machine (``workshop.cluster.Cluster``, 20-60 s), then:

* **confirmed publish, quorum vs classic queue**: the same persistent messages with confirms in
  flight; a quorum queue confirms only once a majority of its three replicas has written the
  message, a classic queue once its one node has. The ratio is the price of surviving a node;
* **failover pause**: one client publishing with confirms while its node is killed — publish
  latency p50 / p99 / max, and the seconds until messages flow again;
* **partitions**: the same events through 1, 2 and 3 partitions (consistent-hash exchange,
  one active consumer each, handling in sequence): throughput as a ratio to 1 partition.

Every figure is a ratio within this run; absolute numbers depend on the machine's load.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from workshop.bench._report import parser, rate_row, save_json, scratch, verdict_lines


async def confirmed_publish(urls: list[str], s: Any, queue_type: str, n: int) -> dict[str, Any]:
    """``n`` events published with ``publish_many`` into one subscription's queue of ``queue_type``."""
    from dataclasses import replace

    from workshop.bus.rabbitmq import RabbitBus
    from workshop.events import Event

    # each queue type in a namespace of its own: the bus's exchanges and parking queue take its type too
    s = replace(s, namespace=s.namespace.child(queue_type))
    bus = await RabbitBus.open(s, urls=urls, queue_type=queue_type)
    try:

        async def nothing(event: Any, delivery: Any) -> None:
            return None

        sub = await bus.subscribe(f"bench_{queue_type}", [f"bench.{queue_type}"], nothing, retry=None)
        await sub.cancel()  # the queue stays and fills: only the publish is measured
        events = [(f"bench.{queue_type}", Event("Ticked", "bench", {"i": i})) for i in range(n)]
        start = time.perf_counter()
        await bus.publish_many(events)
        return rate_row(f"confirmed publish, {queue_type} queue", n, time.perf_counter() - start)
    finally:
        await bus.close()


async def run(sizes: dict[str, int], log: Any = print) -> list[dict[str, Any]]:
    import logging

    from workshop.bus.failover import connect_failover
    from workshop.cluster import Cluster
    from workshop.cluster.faults import failover_pause
    from workshop.cluster.ordering import partitioned
    from workshop.infra.reset import reset_namespace

    for name in ("aio_pika", "aiormq"):  # the failover's reconnection attempts are expected, not news
        logging.getLogger(name).setLevel(logging.CRITICAL)
    rows: list[dict[str, Any]] = []
    log("starting a throw-away three-node cluster …")
    async with Cluster() as cluster:
        s = await scratch(None, "bench_cluster")
        try:
            memory = cluster.memory()
            best: dict[str, dict[str, Any]] = {}
            for kind in ("classic", "quorum", "classic", "quorum"):  # interleaved, best of two: no warm-up bias
                row = await confirmed_publish(cluster.urls, s, kind, sizes["publish"])
                if kind not in best or row["rate"] > best[kind]["rate"]:
                    best[kind] = row
            classic, quorum = best["classic"], best["quorum"]
            quorum["vs_classic_queue"] = round(quorum["rate"] / classic["rate"], 3)
            rows += [classic, quorum]

            pause = await failover_pause(cluster, s, messages=sizes["pause"], rate=50)
            rows.append({"name": "failover: publish latency p50", "value": round(pause.p50_ms, 1), "unit": "ms"})
            rows.append(
                {
                    "name": "failover: publish latency p99",
                    "value": round(pause.p99_ms, 1),
                    "unit": "ms",
                    "vs_p50": round(pause.p99_ms / pause.p50_ms, 1) if pause.p50_ms else None,
                }
            )
            rows.append({"name": "failover: longest publish (the pause)", "value": round(pause.max_ms), "unit": "ms"})
            rows.append(
                {
                    "name": "failover: seconds until messages flow again",
                    "value": round(pause.flowing_again_s, 2),
                    "unit": "s",
                }
            )
            rows.append(
                {
                    "name": "failover: lost / doubled / reordered",
                    "value": 0,
                    "unit": "messages",
                    "lost": pause.lost,
                    "doubled": pause.doubled,
                    "reordered": pause.reordered,
                }
            )

            connection = await connect_failover(cluster.urls)
            try:
                one = None
                for k in (1, 2, 3):
                    result = await partitioned(connection, s, partitions=k, orders=sizes["orders"])
                    row = rate_row(f"{k} partition(s), one consumer each", result.events, result.seconds, "events")
                    row["reordered"] = result.reordered
                    one = one or row["rate"]
                    if k > 1:
                        row["vs_1_partition"] = round(row["rate"] / one, 2)
                    rows.append(row)
            finally:
                await connection.close()
            rows.append(
                {
                    "name": "memory per node (after the runs)",
                    "unit": "MiB",
                    "value": round(max(cluster.memory().values()), 1),
                    "at_start": memory,
                    "at_end": cluster.memory(),
                }
            )
        finally:
            await reset_namespace(s, quiet=True)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    out = []
    for r in rows:
        value = f"{r['rate']:>10,.0f} {r['unit']}/s" if "rate" in r else f"{r['value']:>10,} {r['unit']}"
        ratios = "  ".join(f"{k[3:].replace('_', ' ')}: {v}x" for k, v in r.items() if k.startswith("vs_") and v)
        out.append(f"{r['name']:<44} {value:<22} {ratios}")
    return "\n".join(out)


def verdicts(rows: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    by = {r["name"]: r for r in rows}
    lost = by["failover: lost / doubled / reordered"]
    three = by["3 partition(s), one consumer each"]
    return [
        ("no confirmed message lost across the failover", lost["lost"] == 0),
        ("partitions keep every order's events in order", all(r.get("reordered", 0) == 0 for r in rows)),
        ("3 partitions move at least 1.5x the events of 1", three.get("vs_1_partition", 0) >= 1.5),
    ]


def main(argv: list[str]) -> int:
    p = parser("cluster", __doc__)
    p.add_argument("--quick", action="store_true", help="smaller counts (the cluster's start-up dominates)")
    args = p.parse_args(argv)
    sizes = (
        {"publish": 1000, "pause": 150, "orders": 100} if args.quick else {"publish": 5000, "pause": 500, "orders": 400}
    )
    rows = asyncio.run(run(sizes))
    print(table(rows))
    save_json(args.json, {"benchmark": "cluster", "results": rows, "targets": verdict_lines(verdicts(rows))})
    return 0
