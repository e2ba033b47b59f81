"""Redis pub/sub vs Redis Streams vs RabbitMQ queues: the guarantees side by side, and measured.

    rates = await measure(s, n=2000)     # msg/s delivered to TWO consumers, each way
    print(table(rates))
    plot(rates)

Each rate is end to end in this kernel: publish ``n`` events, and stop the clock when both
consumers have handled all of them — two subscribers (pub/sub), two consumer groups
(Streams), or two durable queues bound to one topic exchange (RabbitMQ, chapter 1's bus,
with publisher confirms and manual acks). The counts are small to keep the notebook quick;
``workshop bench pubsub`` measures with more.

Like with like: the three rates count the same thing (deliveries to two consumers,
publish included). At these sizes, in one Python process, what limits them is the client's
work per message — decoding the JSON, building an ``Event``, calling a handler — more than
the server: pub/sub is not faster than Streams (whose appends are pipelined and whose reads
are batched), and RabbitMQ pays a disk write and a confirm per message. Pick by the guarantees.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from workshop.config import Settings
from workshop.events import Event
from workshop.waiting import until, within

WAYS = ("Redis pub/sub", "Redis Streams", "RabbitMQ queues")

# (property, pub/sub, Streams, RabbitMQ) — what each one promises
GUARANTEES: list[tuple[str, str, str, str]] = [
    ("delivery", "at most once", "at least once (XACK)", "at least once (ack)"),
    ("kept after delivery", "no: fire and forget", "yes, until trimmed", "until acked"),
    ("offline consumer", "misses everything", "catches up", "catches up (durable queue)"),
    ("replay history", "no", "yes: XRANGE, new group at 0", "no (consumed = gone)"),
    ("fan-out", "every subscriber", "one group per reader", "one queue per reader"),
    ("competing consumers", "no", "consumers in a group", "consumers on a queue"),
    ("crashed consumer", "its messages are lost", "XAUTOCLAIM", "redelivered at once"),
    ("dead letters", "no", "by convention (:dead)", "built in (DLX)"),
    ("slow consumer", "disconnected", "reads at its own pace", "prefetch + queue grows"),
    ("survives a broker restart", "nothing kept to survive", "only with the AOF on", "durable queue + persistent"),
]


def _events(n: int) -> list[Event]:
    from workshop.pubsub.publisher import user_action

    return [user_action(i) for i in range(n)]


CHUNK = 1000  # messages per pipeline


async def clocked(coro: Any) -> tuple[float, float]:
    """(seconds, CPU seconds of this process) that awaiting ``coro`` took — one window for both, so a
    rate per CPU second leaves out the set-up exactly as the rate by the clock does."""
    start, cpu = time.perf_counter(), time.process_time()
    await coro
    return time.perf_counter() - start, time.process_time() - cpu


async def delivered_package(s: Settings, n: int) -> tuple[float, float]:
    """(seconds, CPU seconds) until two package Subscribers have each received ``n`` events published pipelined.

    The clock stops at the last delivery, as the redis-py baseline's does: the subscribers' handler
    counts (the course's subscribers print instead), and the last count sets an ``asyncio.Event``.
    """
    from workshop.pubsub import Publisher, Subscriber

    done, seen = asyncio.Event(), [0]

    def count(channel: str, event: Event) -> None:
        seen[0] += 1
        if seen[0] == 2 * n:
            done.set()

    subs = [await Subscriber.start(s, channels=["bench"], name=f"bench-{i}", handler=count) for i in (1, 2)]
    pub = await Publisher.open(s)
    events = _events(n)
    try:

        async def run() -> None:
            for i in range(0, n, CHUNK):
                await pub.publish_many([("bench", e) for e in events[i : i + CHUNK]])
            await within(done.wait(), 120, what=f"{n} deliveries to both subscribers")

        return await clocked(run())
    finally:
        await asyncio.gather(pub.close(), *(sub.stop() for sub in subs))


async def pubsub_rate(s: Settings, n: int) -> float:
    seconds, _ = await delivered_package(s, n)
    return 2 * n / seconds


async def streams_rate(s: Settings, n: int) -> float:
    """Append ``n`` (pipelined), two consumer groups read them all."""
    from workshop.pubsub.streams import GroupConsumer, append_many

    groups = [
        await GroupConsumer.open(s, "compare", group=f"reader{i}", consumer="c", batch=500, claim_idle_ms=None)
        for i in (1, 2)
    ]
    events = _events(n)
    try:
        start = time.perf_counter()
        for i in range(0, n, 1000):
            await append_many(groups[0].redis, groups[0].key, events[i : i + 1000])
        for g in groups:
            while g.stats.handled < n:
                await g.read_new(block_ms=1000)
        return 2 * n / (time.perf_counter() - start)
    finally:
        await asyncio.gather(*(g.close() for g in groups))


async def rabbitmq_rate(s: Settings, n: int) -> float:
    """Chapter 1's bus: two durable queues on the topic exchange, confirms, prefetch 500, manual acks."""
    from workshop.bus.rabbitmq import RabbitBus

    bus = await RabbitBus.open(s)
    try:
        subs = [await bus.subscribe(f"compare{i}", ["compare.#"], _noop, prefetch=500) for i in (1, 2)]
        start = time.perf_counter()
        await bus.publish_many([("compare.tick", e) for e in _events(n)])
        await until(
            lambda: all(sub.stats.handled >= n for sub in subs),
            timeout=60,
            every=0.005,
            what=f"{n} RabbitMQ deliveries to both queues",
        )
        return 2 * n / (time.perf_counter() - start)
    finally:
        await bus.close()


async def _noop(event: Event, delivery: Any) -> None:
    return None


async def measure(s: Settings, n: int = 2000) -> dict[str, float]:
    """Messages per second delivered to two consumers, for each of the three ways."""
    return {
        "Redis pub/sub": await pubsub_rate(s, n),
        "Redis Streams": await streams_rate(s, n),
        "RabbitMQ queues": await rabbitmq_rate(s, n),
    }


def table(rates: dict[str, float] | None = None) -> str:
    """The guarantees as a text table, plus a 'measured' row (rates last, so they line up)."""
    width = [max(len(row[i]) for row in GUARANTEES) for i in range(4)]
    width[0] = max(width[0], len("measured, 2 consumers"))

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(f"{c:<{w}}" for c, w in zip(cells, width)).rstrip()

    lines = [line(("", *WAYS)), line(tuple("-" * w for w in width))]
    lines += [line(row) for row in GUARANTEES]
    if rates:
        lines.append(
            f"{'measured, 2 consumers':<{width[0]}}  " + " | ".join(f"{way}: {rates[way]:,.0f} msg/s" for way in WAYS)
        )
    return "\n".join(lines)


def plot(rates: dict[str, float], ax: Any = None) -> Any:
    import matplotlib.pyplot as plt

    from workshop.viz.style import colour

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 2.0))
    bars = ax.barh(list(rates), list(rates.values()), color=[colour(way) for way in rates])
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in rates.values()], padding=3)
    ax.invert_yaxis()
    ax.set_xlabel("msg/s delivered to two consumers (more is faster; see the guarantees)")
    ax.figure.tight_layout()
    return ax.figure
