"""The HTTP API: 201 with an id on a good order, 422 with the fields at fault on a bad one."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from workshop.orders import db
from workshop.orders.api import create_app
from workshop.orders.system import OrderSystem


@pytest.fixture
async def api(ws_settings):
    system = OrderSystem(ws_settings)
    await system.start()
    seen = []

    async def tap(event, delivery):
        seen.append(event.event_type)

    await system.bus.subscribe("tap", ["#"], tap)
    transport = httpx.ASGITransport(app=create_app(system.orders))
    async with httpx.AsyncClient(transport=transport, base_url="http://orders", timeout=10) as client:
        yield client, system, seen
    await system.stop()


async def test_post_then_get_follows_the_order_to_shipped(api):
    client, system, _ = api
    r = await client.post("/orders", json={"user_id": "alice", "items": [{"sku": "BOOK", "qty": 2, "price": 10}],
                                           "total": 20})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "pending" and body["order_id"].startswith("ORD-")
    await system.wait_final([body["order_id"]], timeout=20)
    r = await client.get(f"/orders/{body['order_id']}")
    assert r.status_code == 200 and r.json()["status"] == "shipped" and r.json()["total"] == 20.0
    assert (await client.get("/orders/ORD-nope")).status_code == 404


@pytest.mark.parametrize("payload,field", [
    ({"user_id": "alice", "items": [{"sku": "BOOK", "qty": 0, "price": 10}]}, ["body", "items", 0, "qty"]),
    ({"user_id": "", "items": [{"sku": "BOOK", "qty": 1, "price": 10}]}, ["body", "user_id"]),
    ({"user_id": "alice", "items": []}, ["body", "items"]),
    ({"user_id": "alice", "items": [{"sku": "BOOK", "qty": 1, "price": 10}], "total": 99}, ["body"]),
    ({"items": [{"sku": "BOOK", "qty": 1, "price": 10}]}, ["body", "user_id"]),
])
async def test_bad_payload_is_422_with_the_field_and_nothing_is_published(api, payload, field):
    client, system, seen = api
    r = await client.post("/orders", json=payload)
    assert r.status_code == 422
    assert [d["loc"] for d in r.json()["detail"]][0] == field
    await asyncio.sleep(0.3)
    assert await db.fetch(system.pool, "SELECT count(*) FROM orders") == [(0,)]
    assert await db.fetch(system.pool, "SELECT count(*) FROM outbox") == [(0,)]
    assert seen == []
