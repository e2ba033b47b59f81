"""Dual write vs outbox: a process that really dies between saving an order and publishing it.

    result = await crashdemo.run(settings, "dual-write", orders=5, crash_at=3)
    result.saved, result.published        # (3, 2): order 3 exists, nobody heard of it
    result = await crashdemo.run(settings, "outbox", orders=5, crash_at=3)
    result.saved, result.published        # (3, 3): the restarted relay published it

A child process places orders one by one and SIGKILLs itself right after the
database commit of order ``crash_at``. In ``dual-write`` mode it does what the
course does (save, then publish); in ``outbox`` mode it uses the order
service (row + outbox row in one transaction). Afterwards the parent plays
"the service restarts": for the outbox that means its relay runs once.
A tap queue counts the ``OrderCreated`` events that reached RabbitMQ.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from dataclasses import dataclass

from workshop.config import Settings
from workshop.config import settings as load_settings
from workshop.orders import db, domain, outbox, schemas
from workshop.orders.processes import child_env
from workshop.waiting import WaitTimeout, until, within

MODES = ("dual-write", "outbox")


@dataclass(frozen=True)
class CrashResult:
    mode: str
    saved: int  # orders in the database
    published: int  # OrderCreated events that reached the broker
    exit_signal: int  # how the child ended (9 = SIGKILL)

    @property
    def lost(self) -> int:
        return self.saved - self.published


async def child(mode: str, orders: int, crash_at: int) -> None:
    from workshop.bus.rabbitmq import RabbitBus
    from workshop.orders.order import OrderService

    s = load_settings()
    pool = await db.open_pool(s, max_size=2)
    bus = await RabbitBus.open(s, validate=schemas.validate)
    service = OrderService(pool, bus)
    service.relay.start()
    item = [{"sku": "BOOK", "qty": 1, "price": 10.0}]
    for n in range(1, orders + 1):
        if mode == "dual-write":  # the course: save, then publish — two writes, no transaction spans both
            order_id = domain.new_order_id()
            event = domain.place_order(order_id, "alice", item, 10.0)
            async with pool.connection() as conn:
                await conn.execute(
                    "INSERT INTO orders (id, user_id, items, total, status) VALUES (%s, 'alice', %s, 10, 'pending')",
                    (order_id, json.dumps(item)),
                )
            if n == crash_at:
                os.kill(os.getpid(), signal.SIGKILL)  # the process dies here: saved, not published
            await bus.publish(schemas.routing_key(event), event, source="order")
        else:
            await service.place("alice", item)  # row + OrderCreated in one transaction
            if n == crash_at:
                os.kill(os.getpid(), signal.SIGKILL)  # same moment: committed, relay had no chance yet
            await asyncio.sleep(0.05)  # let the relay publish, like a real request rate would


async def run(s: Settings, mode: str, *, orders: int = 5, crash_at: int = 3, timeout: float = 30.0) -> CrashResult:
    """Run the experiment in ``s``'s namespace (its ``orders`` and ``outbox`` tables are emptied first)."""
    from workshop.bus.rabbitmq import RabbitBus

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    pool = await db.open_pool(s, max_size=2)
    bus = await RabbitBus.open(s, validate=schemas.validate)
    seen: set[str] = set()

    async def tap(event, delivery) -> None:
        seen.add(event.aggregate_id)

    try:
        async with pool.connection() as conn:
            await conn.execute("TRUNCATE orders, outbox")
        sub = await bus.subscribe("crashdemo_tap", ["order.ordercreated"], tap, durable=False)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "workshop.run.orders",
            "crash-demo",
            mode,
            str(orders),
            str(crash_at),
            env=child_env(s),
        )
        code = await within(proc.wait(), timeout, what=f"the {mode} demo's child process to crash")
        if mode == "outbox":  # the order service restarts: its relay publishes what is waiting
            while await outbox.Relay(pool, bus, "order").flush():
                pass
        saved = (await db.fetch(pool, "SELECT count(*) FROM orders"))[0][0]
        with contextlib.suppress(WaitTimeout):  # fewer than saved is the naive mode's lesson, not an error
            await until(lambda: len(seen) >= saved, timeout=3, every=0.05, what="every saved order's event")
        await asyncio.sleep(0.2)  # anything else in flight
        await sub.cancel()
        return CrashResult(mode, saved, len(seen), -code if code < 0 else code)
    finally:
        await bus.close()
        await pool.close()
