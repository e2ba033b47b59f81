"""``workshop bench bus``: the course's publish pattern against the package's, on the real RabbitMQ.

Measures, in one run and one throw-away namespace:

1. the course's ``publish_event`` — a new connection per event;
2. the package's publisher awaiting each confirm (one long-lived channel);
3. the package's publisher with many confirms in flight (``publish_many``);
4. consuming with a prefetch (manual acks, a no-op handler);
5. end to end: orders per second through all five services.

Targets are ratios against the ceiling that matters, aio-pika's own rate in the same run:
3 ≥ 0.9x aio-pika's concurrent confirmed publish, and 4 ≥ 0.9x aio-pika's own consume.
(The old "3 ≥ 40x the course's pattern" is retired: that pattern speeds up with the
machine, while the client library is the ceiling.) An ``orders`` count of 0 skips 5.

Every publish here is *routed*: a queue nobody consumes (``bench_sink``, bound to
``order.#``) takes them, so each one is enqueued and, being persistent, written to disk
— like with like, and the cost a real publish pays. (Published to no queue at all, a
message is confirmed and dropped at once: cheaper, and the package refuses it.)
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aio_pika

from workshop.bench._report import parser, rate_row, save_json, scratch, verdict_lines
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


async def run(counts: dict[str, int], base: Any = None) -> list[dict[str, Any]]:
    """One run, in a throw-away child of ``base``'s namespace (default: the settings')."""
    from workshop.bus.rabbitmq import RabbitBus
    from workshop.infra.reset import reset_namespace
    from workshop.orders import course
    from workshop.orders.system import OrderSystem

    s = await scratch(base, "bench_bus")
    rows: list[dict[str, Any]] = []

    def row(name: str, n: int, seconds: float, unit: str = "messages") -> None:
        rows.append(rate_row(name, n, seconds, unit))

    bus = await RabbitBus.open(s)
    try:
        sink = await bus.subscribe("bench_sink", ["order.#"], _ignore)
        await sink.cancel()  # declared and bound, nobody consuming: every publish below is routed here
        n = counts["course"]

        async def course_pattern() -> None:
            for i in range(n):
                await course.publish_event(_event(i), s)

        row("course: connection per publish", n, await _timed(course_pattern()))

        n = counts["sequential"]

        async def sequential() -> None:
            for i in range(n):
                await bus.publish("order.ordercreated", _event(i), source="bench")

        row("package: one channel, await each confirm", n, await _timed(sequential()))

        n = counts["concurrent"]
        row(
            "package: concurrent confirms (publish_many)",
            n,
            await _timed(bus.publish_many([("order.ordercreated", _event(i)) for i in range(n)], source="bench")),
        )

        # consume: fill a queue first, then drain it with a prefetch
        n = counts["consume"]
        done = asyncio.Event()
        seen, first = 0, 0.0

        async def noop(event: Event, delivery: Any) -> None:
            nonlocal seen, first
            seen += 1
            if seen == 1:
                first = time.perf_counter()
            if seen == n:
                done.set()

        ready = await bus.subscribe("bench_consume", ["bench.#"], noop, prefetch=1)
        await ready.cancel()  # declared and bound, nobody consuming yet
        await bus.publish_many([("bench.fill", _event(i)) for i in range(n)], source="bench")
        # both consume timings run from the first delivery to the last (not the set-up round trips)
        await bus.subscribe("bench_consume", ["bench.#"], noop, prefetch=500)
        await within(done.wait(), 120, what=f"{n} messages to be consumed")
        row("package: consume, prefetch 500, manual ack", n - 1, time.perf_counter() - first)

        # the ceiling: aio-pika alone, without the envelope, validation or retry routing
        n = counts["concurrent"]
        body = _event(0).to_json().encode()
        row(
            "aio-pika alone: concurrent confirmed publish",
            n,
            await _timed(
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
            ),
        )
        n = counts["consume"]
        row("aio-pika alone: consume + ack, prefetch 500", n - 1, await _raw_consume(bus, s, n))
    finally:
        await bus.close()

    n = counts["orders"]
    if not n:
        await reset_namespace(s, quiet=True)
        return rows
    system = OrderSystem(s)
    await system.start(stock={"BOOK": 10 * n})
    try:
        start = time.perf_counter()
        ids = await asyncio.gather(
            *(system.place_order("bench", [{"sku": "BOOK", "qty": 1, "price": 10}]) for _ in range(n))
        )
        await system.wait_final(ids, timeout=300)
        row("end to end: orders through 5 services", n, time.perf_counter() - start, unit="orders")
    finally:
        await system.stop()
        await reset_namespace(s, quiet=True)
    return rows


async def _raw_consume(bus: Any, s: Any, n: int) -> float:
    channel = await bus.connection.channel()
    await channel.set_qos(prefetch_count=500)
    queue = await channel.declare_queue(s.namespace.amqp("bench_raw"), durable=True)
    await queue.bind(bus.exchange, "raw.#")
    # the very messages the package consumes (same body, same AMQP properties): only the code differs
    await bus.publish_many([("raw.fill", _event(i)) for i in range(n)], source="bench")
    done, seen, first = asyncio.Event(), 0, 0.0

    async def ack(message: Any) -> None:
        nonlocal seen, first
        await message.ack()
        seen += 1
        if seen == 1:
            first = time.perf_counter()
        if seen == n:
            done.set()

    tag = await queue.consume(ack)
    await within(done.wait(), 120, what=f"{n} messages to be consumed")
    seconds = time.perf_counter() - first
    await queue.cancel(tag)
    await channel.close()
    return seconds


def table(rows: list[dict[str, Any]]) -> str:
    course = rows[0]["rate"]
    width = max(len(r["name"]) for r in rows)
    lines = [f"{'benchmark':<{width}}  {'count':>7}  {'seconds':>8}  {'rate':>18}  {'vs course':>9}"]
    for r in rows:
        ratio = f"{r['rate'] / course:,.1f}x" if "publish" in r["name"] or "confirm" in r["name"] else ""
        lines.append(
            f"{r['name']:<{width}}  {r['count']:>7,}  {r['seconds']:>8.2f}  "
            f"{r['rate']:>7,.0f} {r['unit'] + '/s':<10}  {ratio:>9}"
        )
    return "\n".join(lines)


def verdicts(rows: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    rate = {r["name"].split(":")[0] + ":" + r["name"].split(":")[1].split(",")[0].strip(): r["rate"] for r in rows}
    course = rate["course:connection per publish"]
    concurrent = rate["package:concurrent confirms (publish_many)"]
    consume = rate["package:consume"]
    raw_pub, raw_con = rate["aio-pika alone:concurrent confirmed publish"], rate["aio-pika alone:consume + ack"]
    return [
        (
            f"concurrent confirmed publish >= 0.9x aio-pika's own ({concurrent / raw_pub:.2f}x; "
            f"{concurrent / course:,.0f}x the course's pattern)",
            concurrent >= 0.9 * raw_pub,
        ),
        (
            f"consume >= 0.9x aio-pika's own ({consume / raw_con:.2f}x: {consume:,.0f}/s vs {raw_con:,.0f}/s)",
            consume >= 0.9 * raw_con,
        ),
    ]


def main(argv: list[str]) -> int:
    p = parser("bus", __doc__)
    p.add_argument("--quick", action="store_true", help="smaller counts (a few seconds)")
    args = p.parse_args(argv)
    counts = (
        {"course": 50, "sequential": 500, "concurrent": 3000, "consume": 5000, "orders": 100}
        if args.quick
        else {"course": 200, "sequential": 2000, "concurrent": 20000, "consume": 20000, "orders": 500}
    )
    rows = asyncio.run(run(counts))
    print(table(rows))
    save_json(args.json, {"benchmark": "bus", "results": rows, "targets": verdict_lines(verdicts(rows))})
    return 0
