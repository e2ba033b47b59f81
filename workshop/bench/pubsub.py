"""``workshop bench pubsub``: chapter 2's publisher, subscribers and Streams against their ceilings.

Measures, in one run and one throw-away namespace on the shared Redis:

1. messages/s delivered to **two subscribers** (the course's layout), with the package's
   Publisher and Subscribers (the event envelope, validated on receipt) — and the same layout
   with **bare redis-py** doing only the course's ``json.dumps``/``json.loads`` (the client
   library's own ceiling);
2. publishing **one message per round trip** versus **pipelined** (one round trip per 1,000);
3. Streams: pipelined ``XADD``, and group consumption (``XREADGROUP`` 500 at a time, one
   ``XACK`` per batch) with the package and with bare redis-py;
4. ``redis-benchmark``'s ``PUBLISH`` and ``XADD`` (pipelined 16 deep): the server's ceiling.

Targets, as ratios within the run (machines differ): delivered rate ≥ 0.9x bare redis-py,
Streams group consumption ≥ 0.9x bare redis-py, and pipelined publishing ≥ 5x one publish
per round trip — each judged on ``--pairs`` (5) adjacent A/B pairs in alternating order:
the median of the pairs' ratios, or *unstable* when their spread straddles the target. Each
side of a pair runs twice, in turn (A B A B), and its faster run counts
(:func:`._report.paired`): single runs of these sub-second sides gave pair ratios from 0.64
to 1.25 on this course's 2-core machine, the fastest of two 0.83 to 0.90.
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
import math
import shutil
import subprocess
from typing import Any
from urllib.parse import urlsplit

from workshop import connect
from workshop.bench._report import (
    PAIRS,
    Figure,
    cpu_figures,
    markdown,
    medians,
    paired,
    parser,
    rate_row,
    save_json,
    scratch,
)
from workshop.config import Settings
from workshop.events import Event
from workshop.pubsub.compare import clocked, delivered_package
from workshop.waiting import until

CHUNK = 1000  # messages per pipeline

COUNTS = {"delivered": 8000, "one_by_one": 1500, "pipelined": 8000, "streams": 8000, "server": 50000}
QUICK = {"delivered": 2000, "one_by_one": 300, "pipelined": 2000, "streams": 2000, "server": 5000}


def _events(n: int) -> list[Event]:
    from workshop.pubsub.publisher import user_action

    return [user_action(i) for i in range(n)]


# --- pub/sub ---------------------------------------------------------------------------------


async def delivered_bare(s: Settings, n: int) -> tuple[float, float]:
    """The same layout with redis-py alone, doing the course's work: ``json.dumps`` a dict, PUBLISH
    pipelined, two pubsub readers that ``json.loads`` each message as the course's ``listen()`` loop
    gives it — no envelope, no checks."""
    channel = s.namespace.key("bench_bare")
    clients = [await connect.redis(s) for _ in range(3)]
    pubsubs = [c.pubsub(ignore_subscribe_messages=True) for c in clients[1:]]
    counts = [0, 0]
    for p in pubsubs:
        await p.subscribe(channel)
        while await p.get_message(timeout=1.0) is None and not p.subscribed:
            pass
    await until(lambda: clients[0].pubsub_numsub(channel), what="bare subscribers")  # registered on the server

    async def read(i: int) -> None:
        async for message in pubsubs[i].listen():  # the course's subscriber.py reads this way
            json.loads(message["data"])
            counts[i] += 1
            if counts[i] == n:
                return

    dicts = [e.to_dict() for e in _events(n)]

    async def run() -> None:
        readers = [asyncio.create_task(read(i)) for i in (0, 1)]
        for i in range(0, n, CHUNK):
            pipe = clients[0].pipeline(transaction=False)
            for event in dicts[i : i + CHUNK]:
                pipe.publish(channel, json.dumps(event))
            await pipe.execute()
        await asyncio.wait_for(asyncio.gather(*readers), 120)

    try:
        return await clocked(run())
    finally:
        for p in pubsubs:
            await p.aclose()
        for c in clients:
            await c.aclose()


async def publish_one_by_one(s: Settings, n: int) -> tuple[float, float]:
    from workshop.pubsub import Publisher

    pub = await Publisher.open(s)
    events = _events(n)

    async def run() -> None:
        for e in events:
            await pub.publish("bench_solo", e)

    try:
        return await clocked(run())
    finally:
        await pub.close()


async def publish_pipelined(s: Settings, n: int) -> tuple[float, float]:
    from workshop.pubsub import Publisher

    pub = await Publisher.open(s)
    events = _events(n)

    async def run() -> None:
        for i in range(0, n, CHUNK):
            await pub.publish_many([("bench_solo", e) for e in events[i : i + CHUNK]])

    try:
        return await clocked(run())
    finally:
        await pub.close()


# --- Streams ---------------------------------------------------------------------------------


async def stream_append(s: Settings, n: int, stream: str = "bench_stream") -> tuple[float, float]:
    from workshop.pubsub.streams import append_many

    r = await connect.redis(s)
    events = _events(n)

    async def run() -> None:
        for i in range(0, n, CHUNK):
            await append_many(r, s.namespace.key(stream), events[i : i + CHUNK])

    try:
        return await clocked(run())
    finally:
        await r.aclose()


async def stream_consume_package(s: Settings, n: int, stream: str = "bench_stream") -> tuple[float, float]:
    from workshop.pubsub.streams import GroupConsumer

    c = await GroupConsumer.open(s, stream, group="bench_pkg", consumer="c1", batch=500, claim_idle_ms=None)

    async def run() -> None:
        while c.stats.handled < n:
            if not await c.read_new(block_ms=1000):
                raise RuntimeError(f"the stream ran dry after {c.stats.handled} of {n} entries")

    try:
        return await clocked(run())
    finally:
        await c.close()


async def stream_consume_bare(s: Settings, n: int, stream: str = "bench_stream") -> tuple[float, float]:
    """The same group consumption with redis-py alone, doing the course's work as the pub/sub baseline
    does: ``json.loads`` each entry (a consumer that never reads its messages consumed nothing) —
    no envelope, no checks, one ``XACK`` per batch."""
    from workshop.pubsub.streams import FIELD, ensure_group

    r = await connect.redis(s)
    key = s.namespace.key(stream)
    await ensure_group(r, key, "bench_bare")

    async def run() -> None:
        seen = 0
        while seen < n:
            reply = await r.xreadgroup("bench_bare", "c1", {key: ">"}, count=500, block=1000)
            entries = reply[0][1] if reply else []
            for _, fields in entries:
                json.loads(fields[FIELD])
            ids = [entry_id for entry_id, _ in entries]
            if not ids:
                raise RuntimeError(f"the stream ran dry after {seen} of {n} entries")
            await r.xack(key, "bench_bare", *ids)
            seen += len(ids)

    try:
        return await clocked(run())
    finally:
        await r.aclose()


# --- the server's ceiling -------------------------------------------------------------------------


def redis_benchmark(s: Settings, n: int) -> dict[str, float] | None:
    """``redis-benchmark``'s PUBLISH and XADD requests/s (``-P 16``); ``None`` if it is not installed."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        return None
    url = urlsplit(s.redis_url)
    base = [
        binary,
        "-h",
        url.hostname or "127.0.0.1",
        "-p",
        str(url.port or 6379),
        "-n",
        str(n),
        "-c",
        "4",
        "-P",
        "16",
        "--csv",
    ]
    if url.password:
        base += ["-a", url.password]
    if url.username:
        base += ["--user", url.username]
    payload = "x" * len(_events(1)[0].to_json())  # same size as an event, no quotes to upset the CSV
    commands = {
        "PUBLISH": ["publish", s.namespace.key("bench_rb"), payload],
        "XADD": ["xadd", s.namespace.key("bench_rb_stream"), "*", "event", payload],
    }
    rates: dict[str, float] = {}
    for name, command in commands.items():
        out = subprocess.run(base + command, capture_output=True, text=True, timeout=120, check=True).stdout
        rows = list(csv.DictReader(io.StringIO(out)))
        rates[name] = float(rows[-1]["rps"])
    return rates


# --- one run --------------------------------------------------------------------------------------


async def run(counts: dict[str, int], s: Settings | None = None, pairs: int = 1) -> list[dict[str, Any]]:
    """``pairs`` rounds of every figure, each pair back to back and in alternating order (A B, then
    B A, …); every row of a round carries ``"pair": i``. The server's ceiling is measured once."""
    from workshop.infra.reset import reset_namespace

    s = await scratch(s, "bench_pubsub")
    rows: list[dict[str, Any]] = []
    try:
        # one untimed round at a tenth of the size first (its own stream): the first pass of a process
        # pays for imports and first allocations, and would land on whichever side of pair 0 came first
        await _round(s, {k: max(10, v // 10) for k, v in counts.items()}, -1)
        for i in range(pairs):
            rows += [{**r, "pair": i} for r in await _round(s, counts, i)]
        server = await asyncio.to_thread(redis_benchmark, s, counts["server"])
        for name, rate in (server or {}).items():
            rows.append(
                {
                    "name": f"redis-benchmark: {name}, -P 16",
                    "count": counts["server"],
                    "seconds": round(counts["server"] / rate, 4),
                    "rate": rate,
                    "unit": "messages" if name == "PUBLISH" else "entries",
                }
            )
    finally:
        await reset_namespace(s, quiet=True)
    return rows


async def _round(s: Settings, counts: dict[str, int], i: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    async def pair(a: tuple[str, int, Any, str], b: tuple[str, int, Any, str]) -> None:
        """Both sides twice, in turn (package first in even rounds), each side's fastest run kept."""
        rows.extend(await paired(a, b, a_first=i % 2 == 0))

    n = counts["delivered"]
    await pair(
        ("package: delivered to 2 subscribers", 2 * n, lambda: delivered_package(s, n), "messages"),
        ("redis-py alone: delivered to 2 subscribers", 2 * n, lambda: delivered_bare(s, n), "messages"),
    )
    one, piped = counts["one_by_one"], counts["pipelined"]
    await pair(
        ("package: publish, pipelined", piped, lambda: publish_pipelined(s, piped), "messages"),
        ("package: publish, one per round trip", one, lambda: publish_one_by_one(s, one), "messages"),
    )
    n, stream = counts["streams"], f"bench_stream_{i}"
    seconds, _ = await stream_append(s, n, stream)
    rows.append(rate_row("package: Streams XADD, pipelined", n, seconds, "entries"))
    await pair(
        ("package: Streams group consume + XACK", n, lambda: _on_own_stream(s, n, stream_consume_package), "entries"),
        (
            "redis-py alone: Streams group consume + XACK",
            n,
            lambda: _on_own_stream(s, n, stream_consume_bare),
            "entries",
        ),
    )
    return rows


_streams = itertools.count()


async def _on_own_stream(s: Settings, n: int, consume: Any) -> tuple[float, float]:
    """``consume``'s (seconds, CPU seconds) on ``n`` entries appended first (untimed) to a stream of
    their own, deleted afterwards: each run of a pair reads the same kind of stream from its start."""
    stream = f"bench_consume_{next(_streams)}"
    await stream_append(s, n, stream)
    try:
        return await consume(s, n, stream)
    finally:
        r = await connect.redis(s)
        try:
            await r.delete(s.namespace.key(stream))
        finally:
            await r.aclose()


def figures(rows: list[dict[str, Any]]) -> list[Figure]:
    """The chapter's figures from :func:`run`'s rows: one pair per round (see :mod:`._report`)."""
    ch = "2 pub/sub"
    paired = [
        (
            Figure(ch, "delivered to 2 subscribers", "msg/s", "redis-py alone", target=0.9),
            "package: delivered to 2 subscribers",
            "redis-py alone: delivered to 2 subscribers",
        ),
        (
            Figure(ch, "publish, pipelined", "msg/s", "one publish per round trip", target=5),
            "package: publish, pipelined",
            "package: publish, one per round trip",
        ),
        (
            Figure(ch, "Streams group consume + XACK", "entries/s", "redis-py alone", target=0.9),
            "package: Streams group consume + XACK",
            "redis-py alone: Streams group consume + XACK",
        ),
    ]
    by_pair: dict[int, dict[str, float]] = {}
    for r in rows:
        if "pair" in r:
            by_pair.setdefault(r["pair"], {})[r["name"]] = r["rate"]
    for rates in by_pair.values():
        for fig, a, b in paired:
            fig.add(rates[a], rates[b])
    figs = [f for f, _, _ in paired]
    targeted = [(f, a, b) for f, a, b in paired if f.baseline == "redis-py alone"]
    figs += cpu_figures([f for f, _, _ in targeted], rows, [(a, b) for _, a, b in targeted])
    rate = {r["name"]: r["rate"] for r in medians(rows)}
    server = {"PUBLISH": ("publish, pipelined", "msg/s"), "XADD": ("Streams XADD, pipelined", "entries/s")}
    for cmd, (name, unit) in server.items():
        top = rate.get(f"redis-benchmark: {cmd}, -P 16")
        ours = rate["package: publish, pipelined" if cmd == "PUBLISH" else "package: Streams XADD, pipelined"]
        if top and math.isfinite(top):  # measured once: a reference, not a pair
            fig = Figure(ch, f"{name} (vs the server)", unit, f"redis-benchmark {cmd} -P 16")
            fig.add(ours, top)
            figs.append(fig)
    return figs


def table(rows: list[dict[str, Any]]) -> str:
    """Each measurement's median over the rounds, and its share of the server's ceiling."""
    rows = medians(rows)
    width = max(len(r["name"]) for r in rows)
    ceiling = {
        "messages": next((r["rate"] for r in rows if r["name"].startswith("redis-benchmark: PUBLISH")), None),
        "entries": next((r["rate"] for r in rows if r["name"].startswith("redis-benchmark: XADD")), None),
    }
    lines = [f"{'benchmark':<{width}}  {'count':>7}  {'seconds':>8}  {'rate':>18}  {'vs server':>9}"]
    for r in rows:
        top = ceiling.get(r["unit"])
        ratio = f"{r['rate'] / top:.2f}x" if top and not r["name"].startswith("redis-benchmark") else ""
        lines.append(
            f"{r['name']:<{width}}  {r['count']:>7,}  {r['seconds']:>8.3f}  "
            f"{r['rate']:>7,.0f} {r['unit'] + '/s':<10}  {ratio:>9}"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    p = parser("pubsub", __doc__)
    p.add_argument("--quick", action="store_true", help="smaller counts (a second or two a round)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every count (e.g. 0.01 for a smoke test)")
    p.add_argument("--pairs", type=int, default=PAIRS, help=f"rounds of A/B pairs (default {PAIRS})")
    args = p.parse_args(argv)
    if args.scale <= 0:
        p.error("--scale must be positive")
    counts = {k: max(10, int(v * args.scale)) for k, v in (QUICK if args.quick else COUNTS).items()}
    rows = asyncio.run(run(counts, pairs=args.pairs))
    figs = [f.as_dict() for f in figures(rows)]
    print(table(rows))
    if not any(r["name"].startswith("redis-benchmark") for r in rows):
        print("note: redis-benchmark is not installed (apt-get install redis-tools): no server ceiling")
    print()
    print(markdown(figs))
    save_json(
        args.json, {"benchmark": "pubsub", "counts": counts, "pairs": args.pairs, "results": rows, "figures": figs}
    )
    return 0
