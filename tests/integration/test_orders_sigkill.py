"""1,000 orders, two payment processes, one of them SIGKILLed mid-run.

Every order must still reach a final state, and no payment may be taken twice:
the killed process's unacked messages are redelivered to the survivor, and
the inbox (same transaction as the charge) stops any second effect. The test
checks each link of that sentence: the kill came while orders were still
arriving and payments were still to be made, RabbitMQ did redeliver messages
the dead process had held, and nothing was charged twice.
"""

from __future__ import annotations

import asyncio
import signal
from urllib.parse import quote, urlsplit

import aiohttp
import pytest

from workshop.infra.probes import split_auth
from workshop.orders import db, processes
from workshop.orders.system import OrderSystem
from workshop.waiting import until

N = 1000


async def redelivered(s, queue: str) -> int:
    """How many messages RabbitMQ delivered again on ``queue`` (the management API's ``redeliver`` counter)."""
    base, headers = split_auth(s.rabbitmq_management_url)
    vhost = quote(urlsplit(s.amqp_url).path.lstrip("/") or "/", safe="")
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=3)) as http:
        async with http.get(f"{base.rstrip('/')}/api/queues/{vhost}/{quote(queue, safe='')}") as resp:
            resp.raise_for_status()
            return (await resp.json()).get("message_stats", {}).get("redeliver", 0)


def items_of(n: int) -> list[dict]:
    if n % 10 == 0:  # over the credit limit: payment fails, order cancelled
        return [{"sku": "BOOK", "qty": 1, "price": 2000}]
    if n % 10 == 1:  # lamps run out after 50: refund, order cancelled
        return [{"sku": "LAMP", "qty": 1, "price": 30}]
    return [{"sku": "BOOK", "qty": 1, "price": 10}]


@pytest.mark.timeout(240)
async def test_every_order_final_and_no_double_charge_when_a_consumer_is_killed(ws_settings):
    system = OrderSystem(ws_settings, services=("order", "inventory", "shipping", "notification"))
    await system.start(stock={"BOOK": 10_000, "LAMP": 50})
    # the victim is slow: each message it takes sits unacknowledged in it for 0.2 s
    procs = [
        await processes.start("payment", ws_settings, "--work-delay", "0.2"),
        await processes.start("payment", ws_settings, "--work-delay", "0.002"),
    ]
    try:

        async def place_all() -> list[str]:
            return [await system.place_order(f"user{n % 7}", items_of(n)) for n in range(N)]

        async def payments() -> int:
            [(count,)] = await db.fetch(system.pool, "SELECT count(*) FROM payments")
            return count

        async def a_hundred_payments() -> int:
            count = await payments()
            return count if count >= 100 else 0

        placing = asyncio.create_task(place_all())
        # wait until the consumers are busy, then kill one without warning, while orders still arrive
        charged_at_kill = await until(a_hundred_payments, timeout=60, what="100 payments before the kill")
        assert await processes.kill(procs[0]) == -signal.SIGKILL
        ids = await placing

        states = await system.wait_final(ids, timeout=150)
        counts = {s: list(states.values()).count(s) for s in set(states.values())}
        assert counts == {"shipped": 850, "cancelled": 150}, counts

        doubles = await db.fetch(
            system.pool, "SELECT order_id, kind, count(*) FROM payments GROUP BY order_id, kind HAVING count(*) > 1"
        )
        assert doubles == [], f"payments taken twice: {doubles[:5]}"
        [(charges,)] = await db.fetch(system.pool, "SELECT count(*) FROM payments WHERE kind = 'charge'")
        [(refunds,)] = await db.fetch(system.pool, "SELECT count(*) FROM payments WHERE kind = 'refund'")
        assert (charges, refunds) == (900, 50)  # 100 declined; 50 lamp orders refunded
        assert charged_at_kill < await payments(), "the kill came after the last payment: not mid-run"
        # what the dead process held unacknowledged came back (the management API counts it every few seconds)
        again = await until(
            lambda: redelivered(ws_settings, ws_settings.namespace.amqp("payment")),
            timeout=30,
            what="RabbitMQ to count the killed consumer's messages as redelivered",
        )
        assert again > 0
    finally:
        for p in procs:
            await processes.stop(p)
        await system.stop()
