"""1,000 orders, two payment processes, one of them SIGKILLed mid-run.

Every order must still reach a final state, and no payment may be taken twice:
the killed process's unacked messages are redelivered to the survivor, and
the inbox (same transaction as the charge) stops any second effect.
"""

from __future__ import annotations

import asyncio
import signal

import pytest

from workshop.orders import db, processes
from workshop.orders.system import OrderSystem

N = 1000


@pytest.mark.timeout(240)
async def test_every_order_final_and_no_double_charge_when_a_consumer_is_killed(ws_settings):
    system = OrderSystem(ws_settings, services=("order", "inventory", "shipping", "notification"))
    await system.start(stock={"BOOK": 10_000, "LAMP": 50})
    procs = [await processes.start("payment", ws_settings, "--work-delay", "0.002") for _ in range(2)]
    try:
        ids = []
        for n in range(N):
            if n % 10 == 0:  # over the credit limit: payment fails, order cancelled
                items = [{"sku": "BOOK", "qty": 1, "price": 2000}]
            elif n % 10 == 1:  # lamps run out after 50: refund, order cancelled
                items = [{"sku": "LAMP", "qty": 1, "price": 30}]
            else:
                items = [{"sku": "BOOK", "qty": 1, "price": 10}]
            ids.append(await system.place_order(f"user{n % 7}", items))
            if n == N // 3:
                # wait until the consumers are busy, then kill one without warning
                for _ in range(200):
                    [(charged,)] = await db.fetch(system.pool, "SELECT count(*) FROM payments")
                    if charged >= 100:
                        break
                    await asyncio.sleep(0.05)
                assert await processes.kill(procs[0]) == -signal.SIGKILL
                [(charged_at_kill,)] = await db.fetch(system.pool, "SELECT count(*) FROM payments")

        states = await system.wait_final(ids, timeout=150)
        assert charged_at_kill < N  # the kill happened mid-run
        counts = {s: list(states.values()).count(s) for s in set(states.values())}
        assert counts == {"shipped": 850, "cancelled": 150}, counts

        doubles = await db.fetch(system.pool, "SELECT order_id, kind, count(*) FROM payments "
                                              "GROUP BY order_id, kind HAVING count(*) > 1")
        assert doubles == [], f"payments taken twice: {doubles[:5]}"
        [(charges,)] = await db.fetch(system.pool, "SELECT count(*) FROM payments WHERE kind = 'charge'")
        [(refunds,)] = await db.fetch(system.pool, "SELECT count(*) FROM payments WHERE kind = 'refund'")
        assert (charges, refunds) == (900, 50)  # 100 declined; 50 lamp orders refunded
    finally:
        for p in procs:
            await processes.stop(p)
        await system.stop()
