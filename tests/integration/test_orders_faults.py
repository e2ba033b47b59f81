"""Duplicates, poison messages and unknown schema versions against the running system."""

from __future__ import annotations

import pytest

from tests.bus_contract import wait_dead, wait_until
from workshop.orders import db, domain
from workshop.orders.system import OrderSystem


@pytest.fixture
async def system(ws_settings):
    s = OrderSystem(ws_settings)
    await s.start()
    yield s
    await s.stop()


async def test_the_same_message_delivered_twice_charges_once(system):
    order_id = await system.place_order("alice", [{"sku": "BOOK", "qty": 1, "price": 10}])
    await system.wait_final([order_id])
    [(body,)] = await db.fetch(system.pool, "SELECT body FROM outbox WHERE routing_key = 'order.ordercreated'")
    # the broker redelivers (a consumer died before its ack): same event, same event_id
    await system.bus.publish_raw("order.ordercreated", body.encode(), source="order")
    payment = system.running["payment"]
    await wait_until(lambda: payment.duplicates == 1, what="the duplicate to be recognised")
    charges = await db.fetch(
        system.pool, "SELECT count(*) FROM payments WHERE order_id = %s AND kind = 'charge'", (order_id,)
    )
    assert charges == [(1,)]


async def test_poison_and_unknown_version_go_to_the_dlq_and_the_service_keeps_working(system):
    good = domain.place_order("ORD-x", "alice", [{"sku": "BOOK", "qty": 1, "price": 1}], 1)
    await system.bus.publish_raw("order.ordercreated", b"\x00\xffgarbage", source="prankster")
    await system.bus.publish_raw("order.ordercreated", good.replace(schema_version=9).to_json().encode())
    await system.bus.publish_raw("order.ordercreated", good.replace(data={"total": "lots"}).to_json().encode())
    dead = await wait_dead(system.bus, "payment", 3)
    assert sorted(d.reason for d in dead) == ["invalid", "invalid", "malformed"]
    assert any("no schema version 9" in d.error for d in dead)
    assert system.running["payment"].stats["dead_lettered"] == 3
    order_id = await system.place_order("bob", [{"sku": "BOOK", "qty": 1, "price": 10}])
    assert await system.wait_final([order_id]) == {order_id: "shipped"}
