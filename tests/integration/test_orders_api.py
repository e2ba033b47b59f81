"""The HTTP API: 201 with an id on a good order, a 4xx with a short JSON reason on any bad input, never a 500."""

from __future__ import annotations

import asyncio
import tracemalloc
from decimal import Decimal

import httpx
import pytest

from workshop.events import Event
from workshop.orders import db
from workshop.orders.api import create_app
from workshop.orders.order import OrderService
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
    r = await client.post(
        "/orders", json={"user_id": "alice", "items": [{"sku": "BOOK", "qty": 2, "price": 10}], "total": 20}
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "pending" and body["order_id"].startswith("ORD-")
    await system.wait_final([body["order_id"]], timeout=20)
    r = await client.get(f"/orders/{body['order_id']}")
    assert r.status_code == 200 and r.json()["status"] == "shipped" and r.json()["total"] == "20.00"
    assert (await client.get("/orders/ORD-nope")).status_code == 404


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"user_id": "alice", "items": [{"sku": "BOOK", "qty": 0, "price": 10}]}, ["body", "items", 0, "qty"]),
        ({"user_id": "", "items": [{"sku": "BOOK", "qty": 1, "price": 10}]}, ["body", "user_id"]),
        ({"user_id": "alice", "items": []}, ["body", "items"]),
        ({"user_id": "alice", "items": [{"sku": "BOOK", "qty": 1, "price": 10}], "total": 99}, ["body"]),
        ({"items": [{"sku": "BOOK", "qty": 1, "price": 10}]}, ["body", "user_id"]),
    ],
)
async def test_bad_payload_is_422_with_the_field_and_nothing_is_published(api, payload, field):
    client, system, seen = api
    r = await client.post("/orders", json=payload)
    assert r.status_code == 422
    assert [d["loc"] for d in r.json()["detail"]][0] == field
    await asyncio.sleep(0.3)
    assert await db.fetch(system.pool, "SELECT count(*) FROM orders") == [(0,)]
    assert await db.fetch(system.pool, "SELECT count(*) FROM outbox") == [(0,)]
    assert seen == []


# --- hostile input: never a 500, never an echo of more than an excerpt ---------------------------------------


def order_body(user_id='"alice"', sku='"BOOK"', qty="1", price="10", total=None) -> bytes:
    """A raw JSON body, so that tests can send what json.dumps would refuse (NaN, lone surrogates, 1e308)."""
    text = f'{{"user_id": {user_id}, "items": [{{"sku": {sku}, "qty": {qty}, "price": {price}}}]'
    return (text + (f', "total": {total}' if total is not None else "") + "}").encode()


HOSTILE = [  # (what, body, status, where the problem is)
    ("price 1e10 (numeric(12,2) overflow)", order_body(price="1e10"), 422, ["body", "items", 0, "price"]),
    ("price 1e308", order_body(price="1e308"), 422, ["body", "items", 0, "price"]),
    ("total 1e10", order_body(total="1e10"), 422, ["body", "total"]),
    ("total 99999999999.99", order_body(total="99999999999.99"), 422, ["body", "total"]),
    ("price Infinity", order_body(price="Infinity"), 400, None),
    ("total -Infinity", order_body(total="-Infinity"), 400, None),
    ("qty NaN", order_body(qty="NaN"), 400, None),
    ("price NaN", order_body(price="NaN"), 400, None),
    ("NUL in user_id", order_body(user_id=r'"a\u0000b"'), 422, ["body", "user_id"]),
    ("NUL in sku", order_body(sku=r'"a\u0000b"'), 422, ["body", "items", 0, "sku"]),
    ("lone surrogate in user_id", order_body(user_id=r'"a\ud800b"'), 422, ["body", "user_id"]),
    ("lone surrogate in sku", order_body(sku=r'"a\udfffb"'), 422, ["body", "items", 0, "sku"]),
    ("lone surrogate as a key", b'{"user_id": "a", "items": [], "\\ud800": 1}', 422, ["body"]),
    ("total 1.004 (more places than cents)", order_body(price="1", total="1.004"), 422, ["body", "total"]),
    ("price 0.001", order_body(price="0.001"), 422, ["body", "items", 0, "price"]),
    ("total not the items' sum", order_body(price="10", total="10.01"), 422, ["body"]),
    ('qty "3"', order_body(qty='"3"'), 422, ["body", "items", 0, "qty"]),
    ("qty true", order_body(qty="true"), 422, ["body", "items", 0, "qty"]),
    ("qty 3.5", order_body(qty="3.5"), 422, ["body", "items", 0, "qty"]),
    ("qty 1e400", order_body(qty="1e400"), 422, ["body", "items", 0, "qty"]),
    ('price "1.5"', order_body(price='"1.5"'), 422, ["body", "items", 0, "price"]),
    ("price true", order_body(price="true"), 422, ["body", "items", 0, "price"]),
    ('total "10"', order_body(total='"10"'), 422, ["body", "total"]),
    ("a 5000-digit integer", order_body(qty="9" * 5000), 400, None),
    ("60 kB of nested arrays", b"[" * 30_000 + b"]" * 30_000, 400, None),
    ("not JSON", b"{'user_id': 'alice'}", 400, None),
    ("not UTF-8", b'{"user_id": "\xff"}', 400, None),
    ("empty", b"", 400, None),
    ("a list", b"[1, 2]", 422, ["body"]),
]


async def test_hostile_bodies_get_a_4xx_with_a_json_reason_and_nothing_is_stored(api):
    client, system, seen = api
    failures = []
    for what, body, status, loc in HOSTILE:
        r = await client.post("/orders", content=body, headers={"content-type": "application/json"})
        problem = r.json()  # always JSON, even when the input was not
        if r.status_code != status:
            failures.append(f"{what}: {r.status_code} {r.text[:200]}")
        elif loc is not None and loc not in [p["loc"] for p in problem["detail"]]:
            failures.append(f"{what}: no problem at {loc}: {problem}")
        elif len(r.content) > 2000:
            failures.append(f"{what}: a {len(r.content)}-byte answer")
    assert failures == []
    await asyncio.sleep(0.3)
    assert await db.fetch(system.pool, "SELECT count(*) FROM orders") == [(0,)]
    assert seen == []


async def test_bad_ids_in_the_path_are_422_and_unknown_ones_404(api):
    client, _, _ = api
    assert (await client.get("/orders/a%00b")).status_code == 422
    assert (await client.get("/orders/a%ED%A0%80b")).status_code == 422
    assert (await client.get("/orders/" + "x" * 100)).status_code == 422
    r = await client.get("/orders/ORD-nope")
    assert r.status_code == 404 and r.json() == {"detail": "no order ORD-nope"}


async def test_other_content_types_are_415(api):
    client, _, _ = api
    r = await client.post("/orders", content=order_body(), headers={"content-type": "text/plain"})
    assert r.status_code == 415


async def test_amounts_are_exact_and_the_event_agrees_with_the_row(api):
    client, system, _ = api
    r = await client.post(
        "/orders", content=order_body(qty="3", price="0.1", total="0.30"), headers={"content-type": "application/json"}
    )
    assert r.status_code == 201, r.text
    order_id = r.json()["order_id"]
    assert r.headers["location"] == f"/orders/{order_id}"
    [(total, items)] = await db.fetch(system.pool, "SELECT total, items FROM orders WHERE id = %s", (order_id,))
    [(body,)] = await db.fetch(system.pool, "SELECT body FROM outbox WHERE routing_key = 'order.ordercreated'")
    event = Event.from_json(body)
    assert total == Decimal("0.30") and event.data["total"] == "0.30" and Decimal(event.data["total"]) == total
    assert event.data["items"] == items == [{"sku": "BOOK", "qty": 3, "price": "0.10"}]
    view = (await client.get(f"/orders/{order_id}")).json()
    assert (view["total"], view["items"][0]["price"]) == ("0.30", "0.10")


async def test_the_largest_order_the_schema_allows_fits_the_database(api):
    client, system, _ = api
    items = [{"sku": f"SKU{i}", "qty": 1000, "price": 99999.99} for i in range(100)]
    r = await client.post("/orders", json={"user_id": "whale", "items": items})
    assert r.status_code == 201, r.text
    assert await db.fetch(system.pool, "SELECT total FROM orders") == [(Decimal("9999999000.00"),)]


# --- size limits ------------------------------------------------------------------------------------------------


async def test_a_body_over_the_limit_is_413_before_it_is_read(api):
    client, _, _ = api
    read = []

    async def fifty_megabytes():
        for _ in range(50):
            read.append(1)
            yield b" " * 1_000_000

    r = await client.post(
        "/orders",
        content=fifty_megabytes(),
        headers={"content-type": "application/json", "content-length": str(50_000_000)},
    )
    assert r.status_code == 413 and "larger than" in r.json()["detail"]
    assert read == []  # Content-Length said it all: not a byte read
    read.clear()
    r = await client.post("/orders", content=fifty_megabytes(), headers={"content-type": "application/json"})
    assert r.status_code == 413  # streamed (chunked), no Content-Length: stopped after the limit
    assert len(read) == 1


async def test_a_10_mb_field_costs_no_memory_and_a_60_kb_field_is_quoted_as_an_excerpt(api):
    client, _, _ = api
    body = order_body(user_id='"' + "u" * 10_000_000 + '"')
    tracemalloc.start()
    try:
        r = await client.post("/orders", content=body, headers={"content-type": "application/json"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.status_code == 413 and peak < 1_000_000, peak
    r = await client.post(
        "/orders", content=order_body(user_id='"' + "u" * 60_000 + '"'), headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and len(r.content) < 1000
    [problem] = r.json()["detail"]
    assert problem["loc"] == ["body", "user_id"] and problem["input"] == "u" * 79 + "…"


# --- idempotency ------------------------------------------------------------------------------------------------

ORDER = {"user_id": "alice", "items": [{"sku": "BOOK", "qty": 2, "price": 10}]}


async def test_the_same_idempotency_key_and_order_return_the_first_order(api):
    client, system, _ = api
    first = await client.post("/orders", json=ORDER, headers={"Idempotency-Key": "k-1"})
    again = await client.post("/orders", json={**ORDER, "total": 20.0}, headers={"Idempotency-Key": "k-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert (
        again.json()["order_id"] == first.json()["order_id"] and again.headers["location"] == first.headers["location"]
    )
    other = await client.post("/orders", json={**ORDER, "user_id": "bob"}, headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 409 and "k-1" in other.json()["detail"]
    fresh = await client.post("/orders", json=ORDER, headers={"Idempotency-Key": "k-2"})
    assert fresh.status_code == 201 and fresh.json()["order_id"] != first.json()["order_id"]
    assert await db.fetch(system.pool, "SELECT count(*) FROM orders") == [(2,)]


async def test_twenty_concurrent_retries_make_one_order_and_one_event(api):
    client, system, seen = api
    answers = await asyncio.gather(
        *(client.post("/orders", json=ORDER, headers={"Idempotency-Key": "retry-me"}) for _ in range(20))
    )
    assert sorted(a.status_code for a in answers) == [200] * 19 + [201]
    assert len({a.json()["order_id"] for a in answers}) == 1
    await system.wait_final([answers[0].json()["order_id"]], timeout=20)
    assert await db.fetch(system.pool, "SELECT count(*) FROM orders") == [(1,)]
    assert await db.fetch(system.pool, "SELECT count(*) FROM outbox WHERE routing_key = 'order.ordercreated'") == [(1,)]
    assert seen.count("OrderCreated") == 1


async def test_a_bad_idempotency_key_is_422(api):
    client, _, _ = api
    r = await client.post("/orders", json=ORDER, headers={"Idempotency-Key": "a key with spaces"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]


# --- documentation and health -----------------------------------------------------------------------------------


async def test_the_openapi_document_lists_every_answer(api):
    client, _, _ = api
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"200", "201", "400", "409", "413", "415", "422"} <= set(paths["/orders"]["post"]["responses"])
    assert {"200", "404", "422"} <= set(paths["/orders/{order_id}"]["get"]["responses"])
    assert {"200", "503"} <= set(paths["/healthz"]["get"]["responses"])


async def test_without_the_database_healthz_and_every_route_are_503(api, ws_settings):
    client, system, _ = api
    r = await client.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok", "detail": None})
    pool = await db.open_pool(ws_settings, max_size=1)
    await pool.close()
    transport = httpx.ASGITransport(app=create_app(OrderService(pool, system.bus)))
    async with httpx.AsyncClient(transport=transport, base_url="http://orders", timeout=10) as broken:
        r = await broken.get("/healthz")
        assert r.status_code == 503 and r.json()["status"] == "unavailable"
        for r in (await broken.get("/orders/ORD-1"), await broken.post("/orders", json=ORDER)):
            assert r.status_code == 503 and r.json() == {"detail": "the database cannot be reached; try again shortly"}


# --- the same rules when the API runs as its own process -----------------------------------------------------


@pytest.mark.timeout(90)
async def test_the_order_process_answers_409_for_a_reused_key_not_500(ws_settings):
    """The order service as a process (its own ``__main__``): a conflict is still a 409, as in-process."""
    from workshop.orders import processes
    from workshop.process import free_port
    from workshop.waiting import until

    port = free_port()
    proc = await processes.start("order", ws_settings, "--port", str(port))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:

            async def healthy():
                try:
                    return (await http.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await until(healthy, timeout=20, what="the order process's API to answer")
            first = await http.post("/orders", json=ORDER, headers={"Idempotency-Key": "proc-1"})
            same = await http.post("/orders", json=ORDER, headers={"Idempotency-Key": "proc-1"})
            other = await http.post("/orders", json={**ORDER, "user_id": "bob"}, headers={"Idempotency-Key": "proc-1"})
    finally:
        await processes.stop(proc)
    assert (first.status_code, same.status_code) == (201, 200), (first.text, same.text)
    assert same.json()["order_id"] == first.json()["order_id"]
    assert other.status_code == 409, other.text
    assert "proc-1" in other.json()["detail"] and first.json()["order_id"] in other.json()["detail"]
