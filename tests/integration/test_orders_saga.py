"""The five services and their choreography, on PostgreSQL with either bus (one code path)."""

from __future__ import annotations

import pytest

from workshop.orders import db
from workshop.orders.system import OrderSystem

BOOK = {"sku": "BOOK", "qty": 1, "price": 12.5}


@pytest.fixture(params=["memory", "rabbitmq"])
async def system(request, ws_settings):
    sys_ = OrderSystem(ws_settings, bus_kind=request.param)
    await sys_.start(stock={"BOOK": 100, "LAMP": 1})
    yield sys_
    await sys_.stop()


async def test_happy_path_payment_failure_and_shortage_each_end_where_they_should(system):
    ok = await system.place_order("alice", [BOOK])
    too_expensive = await system.place_order("bob", [{"sku": "BOOK", "qty": 1, "price": 5000}])
    lamps = await system.place_order("carol", [{"sku": "LAMP", "qty": 2, "price": 30}])
    states = await system.wait_final([ok, too_expensive, lamps], timeout=20)
    assert states == {ok: "shipped", too_expensive: "cancelled", lamps: "cancelled"}

    payments = await db.fetch(system.pool, "SELECT order_id, kind, amount FROM payments ORDER BY order_id, id")
    assert sorted((o, k, float(a)) for o, k, a in payments) == sorted(
        [(ok, "charge", 12.5), (lamps, "charge", 60.0), (lamps, "refund", 60.0)]
    )  # compensation: refunded
    assert await db.fetch(system.pool, "SELECT sku, qty FROM stock ORDER BY sku") == [("BOOK", 99), ("LAMP", 1)]
    [(tracking,)] = await db.fetch(system.pool, "SELECT tracking_number FROM shipments WHERE order_id = %s", (ok,))
    assert tracking.startswith("TRK-")

    await system.wait_quiet()
    texts = dict(await db.fetch(system.pool, "SELECT text, order_id FROM notifications"))
    assert any("shipped, tracking TRK-" in t for t in texts)
    assert any("declined" in t for t in texts) and any("refunded" in t for t in texts)


async def test_order_ids_never_collide(system):
    ids = [await system.place_order("alice", [BOOK]) for _ in range(50)]
    assert len(set(ids)) == 50
    await system.wait_final(ids, timeout=30)
