"""Ordering with many consumers: competing consumers reorder one order's events; partitions do not.

Chapter 1 scaled payment to three processes reading one queue (*competing consumers*). Each
takes the next message, with a prefetch several at a time, and the handlers take different
times — so the third event of an order can be handled before its second. For a saga that
means a cancellation handled before the creation it cancels.

The fix is the one Kafka is built on: **partitions by key**. Every event of one order goes to
the same partition, and each partition is read by exactly one consumer, one event after the
other. In RabbitMQ:

* the **consistent-hash exchange** (plugin ``rabbitmq_consistent_hash_exchange``, shipped with
  RabbitMQ) sends a message to one of N bound queues by a hash of its routing key — here the
  order id, so one order always lands in the same queue;
* ``x-single-active-consumer`` on each queue: many consumers may subscribe, RabbitMQ delivers to
  one at a time and switches to the next only if it goes away (a warm standby, not a competitor);
* that consumer handles its deliveries **in sequence** (prefetch still fills the pipe, but one
  handler runs at a time).

Parallelism now comes from the number of partitions, not of consumers; order holds per key,
not across keys (nobody needs order between two unrelated orders). Kafka's partitions and
RabbitMQ's *super streams* (a stream per partition, single active consumer per partition)
are the same idea with a log instead of a queue.

    run = await competing(connection, s, consumers=3)     # reordered > 0
    run = await partitioned(connection, s, partitions=3)  # reordered == 0
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from workshop.config import Settings
from workshop.waiting import WaitTimeout, until

STEPS = ("OrderCreated", "ItemAdded", "ItemAdded", "OrderCancelled")  # one order's events, in order


def partition_of(order_id: str, partitions: int) -> int:
    """A stable partition for ``order_id`` (the same id always gives the same number).

    The broker's consistent-hash exchange does this for us; the function shows the idea (and
    is what the exercise asks for). Python's ``hash()`` is salted per process, so it would
    send one order to different partitions in two processes: use a real hash.
    """
    import zlib

    return zlib.crc32(order_id.encode()) % partitions


@dataclass
class OrderCheck:
    """Counts per order: every event must come after the previous step of the same order."""

    last: dict[str, int] = field(default_factory=dict)
    seen: set[tuple[str, int]] = field(default_factory=set)
    handled: int = 0
    reordered: int = 0
    doubled: int = 0
    affected: set[str] = field(default_factory=set)

    def record(self, order_id: str, step: int) -> None:
        self.handled += 1
        if (order_id, step) in self.seen:
            self.doubled += 1
            return
        self.seen.add((order_id, step))
        if step < self.last.get(order_id, -1):
            self.reordered += 1
            self.affected.add(order_id)
        self.last[order_id] = max(step, self.last.get(order_id, -1))


@dataclass
class OrderingRun:
    mode: str
    consumers: int
    partitions: int
    orders: int
    events: int
    handled: int
    reordered: int  # events handled after a later event of the same order
    orders_affected: int
    doubled: int
    lost: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def __str__(self) -> str:
        how = (
            f"{self.consumers} competing consumers"
            if self.mode == "competing"
            else f"{self.partitions} partition(s), one active consumer each"
        )
        return (
            f"{how}: {self.events} events of {self.orders} orders, {self.reordered} handled out of order "
            f"({self.orders_affected} orders affected), {self.doubled} doubled, {self.lost} lost, "
            f"{self.rate:,.0f} events/s"
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rate": self.rate}


async def _publish_all(exchange: Any, orders: int, key: Any, batch: int = 5) -> int:
    """Publish every order's steps with confirms, a few orders at a time (customers act close together).

    Within a batch, step n of every order is confirmed before step n+1 is sent: each order's
    events enter the queue in order, so any disorder later is the consumers' doing.
    """

    async def one(order_id: str, step: int) -> None:
        body = f'{{"order_id": "{order_id}", "step": {step}, "type": "{STEPS[step]}"}}'.encode()
        await exchange.publish(
            aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, message_id=f"{order_id}:{step}"),
            key(order_id),
            timeout=30,
        )

    for first in range(0, orders, batch):
        ids = [f"ORD-{o:04d}" for o in range(first, min(orders, first + batch))]
        for step in range(len(STEPS)):
            await asyncio.gather(*(one(order_id, step) for order_id in ids))
    return orders * len(STEPS)


def _parse(message: AbstractIncomingMessage) -> tuple[str, int]:
    import json

    data = json.loads(message.body)
    return str(data["order_id"]), int(data["step"])


async def _work(work: float) -> None:
    """Simulated work that varies per event (a payment gateway answers in 0 to ``2*work`` s)."""
    await asyncio.sleep(random.uniform(0, 2 * work))


async def competing(
    connection: Any,
    s: Settings,
    *,
    consumers: int = 3,
    orders: int = 100,
    prefetch: int = 10,
    work: float = 0.01,
    timeout: float = 60.0,
) -> OrderingRun:
    """Chapter 1's scaling: ``consumers`` consumers on one queue, each handling up to ``prefetch`` at once."""
    check = OrderCheck()
    channel = await connection.channel()
    queue_name = s.namespace.amqp("ordering", "competing")
    channels: list[Any] = []
    try:
        queue = await channel.declare_queue(queue_name, durable=True, arguments={"x-queue-type": "quorum"})
        await queue.purge()

        async def handler(message: AbstractIncomingMessage) -> None:
            order_id, step = _parse(message)
            await _work(work)
            check.record(order_id, step)
            await message.ack()

        events = await _publish_all(channel.default_exchange, orders, lambda _: queue_name)  # fill, then consume
        start = time.monotonic()
        for _ in range(consumers):
            ch = await connection.channel()
            await ch.set_qos(prefetch_count=prefetch)
            channels.append(ch)
            q = await ch.get_queue(queue_name, ensure=False)
            await q.consume(handler)  # aio-pika runs up to `prefetch` handlers of one consumer at once
        seconds = await _wait(check, events, timeout, start)
    finally:
        await _close(channels + [channel])
    return _result("competing", consumers, 1, orders, events, check, seconds)


async def partitioned(
    connection: Any,
    s: Settings,
    *,
    partitions: int = 3,
    orders: int = 100,
    prefetch: int = 50,
    work: float = 0.01,
    timeout: float = 60.0,
) -> OrderingRun:
    """``partitions`` queues behind a consistent-hash exchange, each with one active consumer in sequence."""
    check = OrderCheck()
    channel = await connection.channel()
    channels: list[Any] = []
    tasks: list[asyncio.Task] = []
    try:
        exchange = await channel.declare_exchange(
            s.namespace.amqp("orders", "by_id", str(partitions)), "x-consistent-hash", durable=True
        )
        names = [s.namespace.amqp("ordering", f"p{partitions}", str(p)) for p in range(partitions)]
        for name in names:
            queue = await channel.declare_queue(
                name, durable=True, arguments={"x-queue-type": "quorum", "x-single-active-consumer": True}
            )
            await queue.purge()
            await queue.bind(exchange, routing_key="1")  # the binding key is the partition's weight

        async def consume(name: str) -> None:
            ch = await connection.channel()
            await ch.set_qos(prefetch_count=prefetch)
            channels.append(ch)
            q = await ch.get_queue(name, ensure=False)
            async with q.iterator() as messages:  # one message after the other: order kept
                async for message in messages:
                    order_id, step = _parse(message)
                    await _work(work)
                    check.record(order_id, step)
                    await message.ack()

        events = await _publish_all(exchange, orders, lambda order_id: order_id)  # routing key = order id
        start = time.monotonic()
        tasks = [asyncio.create_task(consume(name)) for name in names]
        seconds = await _wait(check, events, timeout, start)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        await _close(channels + [channel])
    return _result("partitioned", partitions, partitions, orders, events, check, seconds)


async def _wait(check: OrderCheck, total: int, timeout: float, start: float) -> float:
    try:
        await until(
            lambda: len(check.seen) >= total,
            timeout=timeout,
            every=0.005,
            what=f"{total} events to be handled",
            detail=lambda: f"{len(check.seen)} handled",
        )
    except WaitTimeout:
        pass  # the missing ones are counted as lost
    return time.monotonic() - start


def _result(
    mode: str, consumers: int, partitions: int, orders: int, events: int, check: OrderCheck, seconds: float
) -> OrderingRun:
    return OrderingRun(
        mode,
        consumers,
        partitions,
        orders,
        events,
        check.handled,
        check.reordered,
        len(check.affected),
        check.doubled,
        events - len(check.seen),
        round(seconds, 3),
    )


async def _close(channels: list[Any]) -> None:
    for ch in channels:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ch.close(), 5)
