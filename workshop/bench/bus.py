"""``workshop bench bus``: the course's publish pattern against the package's, on the real RabbitMQ.

Measures, in one run and one throw-away namespace:

1. the course's ``publish_event`` — a new connection per event;
2. the package's publisher awaiting each confirm (one long-lived channel);
3. the package's publisher with many confirms in flight (``publish_many``);
4. consuming with a prefetch (manual acks, a no-op handler);
5. end to end: orders per second through all five services.

Targets are ratios against the ceiling that matters, aio-pika's own rate in the same run:
3 ≥ 0.9x aio-pika's concurrent confirmed publish, and 4 ≥ 0.9x aio-pika's own consume — a
consumer that parses each body with ``json.loads`` and acks it, as chapter 2's redis-py
baseline parses (one that never reads its messages is no consumer; the package also checks
the envelope and the schema: that is the difference measured).
Each is measured as ``--pairs`` (5) adjacent A/B pairs in alternating order and judged
on the median of the pairs' ratios, or called *unstable* when their spread straddles
the target (:func:`workshop.bench._report.judge`).
(The old "3 ≥ 40x the course's pattern" is retired: that pattern speeds up with the
machine, while the client library is the ceiling.) An ``orders`` count of 0 skips 5.

Every publish here is *routed*: a queue nobody consumes (``bench_sink``, bound to
``order.#``) takes them, so each one is enqueued and, being persistent, written to disk
— like with like, and the cost a real publish pays. (Published to no queue at all, a
message is confirmed and dropped at once: cheaper, and the package refuses it.)
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aio_pika

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
from workshop.events import Event
from workshop.waiting import within


def _event(n: int) -> Event:
    return Event("OrderCreated", f"ORD-{n}", {"n": n})


async def _ignore(event: Event, delivery: Any) -> None:
    pass


async def _timed(coro: Any) -> float:
    start = time.perf_counter()
    await coro
    return time.perf_counter() - start


async def run(counts: dict[str, int], base: Any = None, pairs: int = 1) -> list[dict[str, Any]]:
    """``pairs`` rounds in a throw-away child of ``base``'s namespace (default: the settings').

    Each figure with a baseline is measured as adjacent A/B pairs in alternating order
    (A B, then B A, …) on the same kind of data, so the machine's drift and whatever the
    first of two leaves behind (the broker still writing the last batch to disk) fall on
    both sides alike. Every row of a round carries ``"pair": i``; the end-to-end orders run once.
    """
    from workshop.bus.rabbitmq import RabbitBus
    from workshop.infra.reset import reset_namespace

    s = await scratch(base, "bench_bus")
    rows: list[dict[str, Any]] = []

    bus = await RabbitBus.open(s)
    try:
        sink = await bus.subscribe("bench_sink", ["order.#"], _ignore)
        await sink.cancel()  # declared and bound, nobody consuming: every publish below is routed here
        ready = await bus.subscribe("bench_consume", ["bench.#"], _ignore, prefetch=1)
        await ready.cancel()  # declared and bound, nobody consuming yet
        sink_queue = await bus.channel.get_queue(s.namespace.amqp("bench_sink"), ensure=False)
        # one untimed round at a tenth of the size first: the first pass of a process pays for
        # imports and first allocations, and would land on whichever side of pair 0 came first
        await _round(bus, s, sink_queue, {k: max(10, v // 10) for k, v in counts.items()}, first=False)
        for i in range(pairs):
            rows += [{**r, "pair": i} for r in await _round(bus, s, sink_queue, counts, first=i % 2 == 0)]
    finally:
        await bus.close()

    n = counts["orders"]
    if not n:
        await reset_namespace(s, quiet=True)
        return rows
    from workshop.orders.system import OrderSystem

    system = OrderSystem(s)
    await system.start(stock={"BOOK": 10 * n})
    try:
        start = time.perf_counter()
        ids = await asyncio.gather(
            *(system.place_order("bench", [{"sku": "BOOK", "qty": 1, "price": 10}]) for _ in range(n))
        )
        await system.wait_final(ids, timeout=300)
        rows.append(rate_row("end to end: orders through 5 services", n, time.perf_counter() - start, unit="orders"))
    finally:
        await system.stop()
        await reset_namespace(s, quiet=True)
    return rows


async def _round(bus: Any, s: Any, sink: Any, counts: dict[str, int], first: bool) -> list[dict[str, Any]]:
    """One round: every figure once; ``first``: the package before its baseline (else after);
    ``sink``: the queue every publish is routed to, emptied before each side."""
    from workshop.orders import course

    rows: list[dict[str, Any]] = []

    async def pair(a: tuple[str, int, Any], b: tuple[str, int, Any]) -> None:
        """Time ``a`` and ``b`` back to back: a then b in a first round, b then a in the next.

        Each side publishes into an empty sink (purged first, untimed), so every side starts
        from the same broker state, not behind the earlier sides' hundreds of thousands of
        persistent messages."""
        rows.extend(await paired((*a, "messages"), (*b, "messages"), a_first=first, runs=1, before=sink.purge))

    n = counts["course"]

    async def course_pattern() -> float:
        return await _timed(_each(n, lambda i: course.publish_event(_event(i), s)))

    async def sequential() -> float:
        return await _timed(
            _each(counts["sequential"], lambda i: bus.publish("order.ordercreated", _event(i), source="bench"))
        )

    await pair(
        ("package: one channel, await each confirm", counts["sequential"], sequential),
        ("course: connection per publish", n, course_pattern),
    )

    n = counts["concurrent"]
    events = [("order.ordercreated", _event(i)) for i in range(n)]  # made before the clock, as the body below
    body = _event(0).to_json().encode()

    async def package_publish() -> float:
        return await _timed(bus.publish_many(events, source="bench"))

    async def raw_publish() -> float:
        # the ceiling: aio-pika alone, without the envelope, validation or retry routing
        return await _timed(
            asyncio.gather(
                *(
                    bus.exchange.publish(
                        aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                        "order.raw",
                        mandatory=True,
                    )
                    for _ in range(n)
                )
            )
        )

    await pair(
        ("package: concurrent confirms (publish_many)", n, package_publish),
        ("aio-pika alone: concurrent confirmed publish", n, raw_publish),
    )

    # consume: fill both queues first (the very same messages, same AMQP properties: only the
    # consuming code differs), then drain them back to back, each timed from its first delivery
    # to its last (not the set-up round trips)
    n = counts["consume"]
    await bus.publish_many([("bench.fill", _event(i)) for i in range(n)], source="bench")
    raw_channel, raw_queue = await _raw_queue(bus, s)
    await bus.publish_many([("raw.fill", _event(i)) for i in range(n)], source="bench")
    try:
        await pair(
            ("package: consume, prefetch 500, manual ack", n - 1, lambda: _package_consume(bus, n)),
            ("aio-pika alone: consume + ack, prefetch 500", n - 1, lambda: _raw_consume(raw_queue, n)),
        )
    finally:
        await raw_channel.close()
    return rows


async def _each(n: int, publish: Any) -> None:
    for i in range(n):
        await publish(i)


async def _package_consume(bus: Any, n: int) -> tuple[float, float]:
    """(seconds, CPU seconds) from the first delivery to the last."""
    done = asyncio.Event()
    seen, first, cpu = 0, 0.0, 0.0

    async def noop(event: Event, delivery: Any) -> None:
        nonlocal seen, first, cpu
        seen += 1
        if seen == 1:
            first, cpu = time.perf_counter(), time.process_time()
        if seen == n:
            done.set()

    sub = await bus.subscribe("bench_consume", ["bench.#"], noop, prefetch=500)
    await within(done.wait(), 120, what=f"{n} messages to be consumed")
    timed = time.perf_counter() - first, time.process_time() - cpu
    await sub.cancel()
    return timed


async def _raw_queue(bus: Any, s: Any) -> tuple[Any, Any]:
    channel = await bus.connection.channel()
    await channel.set_qos(prefetch_count=500)
    queue = await channel.declare_queue(s.namespace.amqp("bench_raw"), durable=True)
    await queue.bind(bus.exchange, "raw.#")
    return channel, queue


async def _raw_consume(queue: Any, n: int) -> tuple[float, float]:
    """(seconds, CPU seconds) from the first delivery to the last."""
    done, seen, first, cpu = asyncio.Event(), 0, 0.0, 0.0

    async def ack(message: Any) -> None:
        nonlocal seen, first, cpu
        json.loads(message.body)  # what any consumer does with a body: chapter 2's baseline does it too
        await message.ack()
        seen += 1
        if seen == 1:
            first, cpu = time.perf_counter(), time.process_time()
        if seen == n:
            done.set()

    tag = await queue.consume(ack)
    await within(done.wait(), 120, what=f"{n} messages to be consumed")
    timed = time.perf_counter() - first, time.process_time() - cpu
    await queue.cancel(tag)
    return timed


def figures(rows: list[dict[str, Any]]) -> list[Figure]:
    """The chapter's figures, each pair of a round next to each other (see :mod:`._report`)."""
    ch = "1 bus"
    figs = [
        Figure(ch, "publish, one channel, await each confirm", "msg/s", "connection per publish (course)"),
        Figure(ch, "publish, confirms in flight (publish_many)", "msg/s", "aio-pika alone", target=0.9),
        Figure(ch, "consume + ack, prefetch 500", "msg/s", "aio-pika alone", target=0.9),
    ]
    names = [
        ("package: one channel, await each confirm", "course: connection per publish"),
        ("package: concurrent confirms (publish_many)", "aio-pika alone: concurrent confirmed publish"),
        ("package: consume, prefetch 500, manual ack", "aio-pika alone: consume + ack, prefetch 500"),
    ]
    by_pair: dict[int, dict[str, float]] = {}
    for r in rows:
        if "pair" in r:
            by_pair.setdefault(r["pair"], {})[r["name"]] = r["rate"]
    for rates in by_pair.values():
        for fig, (a, b) in zip(figs, names):
            fig.add(rates[a], rates[b])
    figs += cpu_figures(figs[1:], rows, names[1:])
    for r in rows:
        if r["name"] == "end to end: orders through 5 services":
            fig = Figure(ch, r["name"], "orders/s")
            fig.add(r["rate"])
            figs.append(fig)
    return figs


def table(rows: list[dict[str, Any]]) -> str:
    """Each measurement's median over the rounds (count, seconds, rate) and its speed-up over the course's pattern."""
    rows = medians(rows)
    course = next((r["rate"] for r in rows if r["name"].startswith("course")), None)
    width = max(len(r["name"]) for r in rows)
    lines = [f"{'benchmark':<{width}}  {'count':>7}  {'seconds':>8}  {'rate':>18}  {'vs course':>9}"]
    for r in rows:
        publish = "publish" in r["name"] or "confirm" in r["name"]
        ratio = f"{r['rate'] / course:,.1f}x" if course and publish else ""
        lines.append(
            f"{r['name']:<{width}}  {r['count']:>7,}  {r['seconds']:>8.2f}  "
            f"{r['rate']:>7,.0f} {r['unit'] + '/s':<10}  {ratio:>9}"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    p = parser("bus", __doc__)
    p.add_argument("--quick", action="store_true", help="smaller counts (a few seconds a round)")
    p.add_argument("--pairs", type=int, default=PAIRS, help=f"rounds of A/B pairs (default {PAIRS})")
    args = p.parse_args(argv)
    counts = (
        {"course": 50, "sequential": 500, "concurrent": 3000, "consume": 5000, "orders": 100}
        if args.quick
        else {"course": 200, "sequential": 2000, "concurrent": 20000, "consume": 20000, "orders": 500}
    )
    rows = asyncio.run(run(counts, pairs=args.pairs))
    figs = [f.as_dict() for f in figures(rows)]
    print(table(rows))
    print()
    print(markdown(figs))
    save_json(args.json, {"benchmark": "bus", "pairs": args.pairs, "results": rows, "figures": figs})
    return 0
