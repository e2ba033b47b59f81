"""The write and read APIs over the real services (in-process ASGI): read your writes, idempotency, cache, errors."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from workshop.cqrs.read_api import ReadSide
from workshop.cqrs.read_api import create_app as read_app
from workshop.cqrs.system import CqrsSystem
from workshop.cqrs.write_api import create_app as write_app


def alice(uid: str = "u1", email: str = "alice@example.org") -> dict:
    return {"type": "CreateUser", "user_id": uid, "first_name": "Alice", "last_name": "Liddell", "email": email}


@pytest.fixture
async def apis(ws_settings):
    system = await CqrsSystem(ws_settings).start()
    read = ReadSide(system.store.pool, system.store.schema, system.redis, ws_settings.namespace)
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(write_app(system.handler)), base_url="http://w") as w,
        httpx.AsyncClient(transport=httpx.ASGITransport(read_app(read)), base_url="http://r") as r,
    ):
        yield system, read, w, r
    await system.stop()


async def test_read_your_writes_with_the_position_from_the_write_api(apis):
    system, read, w, r = apis
    sent = await w.post("/commands", json=alice())
    assert sent.status_code == 201, sent.text
    body = sent.json()
    assert (body["version"], body["events"], body["duplicate"]) == (1, 1, False) and body["position"] >= 1
    got = await r.get("/users/u1", params={"after": body["position"]})
    assert got.status_code == 200 and got.json()["email"] == "alice@example.org"
    assert int(got.headers["X-Read-Position"]) >= body["position"]
    stats = await r.get("/stats", params={"after": body["position"]})
    assert stats.json()["counts"] == {"inactive": 1}


async def test_a_lagging_read_model_is_a_stale_read_without_after_and_a_409_with_it(apis):
    system, read, w, r = apis
    await system.remove("users_v1")  # the users projector stops: the read model falls behind
    body = (await w.post("/commands", json=alice())).json()
    assert (await r.get("/users/u1")).status_code == 404  # the stale read: the write is not visible
    behind = await r.get("/users/u1", params={"after": body["position"], "wait": 0.2})
    assert behind.status_code == 409 and behind.headers["Retry-After"] == "1"
    assert "not yet at" in behind.json()["detail"]


async def test_the_same_idempotency_key_twice_is_one_effect(apis):
    system, read, w, r = apis
    first = await w.post("/commands", json=alice(), headers={"Idempotency-Key": "k-1"})
    again = await w.post("/commands", json=alice(), headers={"Idempotency-Key": "k-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["duplicate"] and again.json()["position"] == first.json()["position"]
    assert await system.store.head() == 1
    in_body = await w.post("/commands", json={**alice(), "command_id": "k-1"})
    assert in_body.status_code == 422 and "Idempotency-Key" in in_body.text


async def test_the_same_idempotency_key_with_another_command_is_409_and_changes_nothing(apis):
    system, read, w, r = apis
    first = await w.post("/commands", json=alice(), headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201, first.text
    for other in (
        {**alice(), "first_name": "Alicia"},  # the same type, another body
        {"type": "ChangeEmail", "user_id": "u1", "email": "new@example.org"},
    ):  # another command
        got = await w.post("/commands", json=other, headers={"Idempotency-Key": "k-1"})
        assert got.status_code == 409, got.text
        assert "k-1" in got.json()["detail"] and "another command" in got.json()["detail"]
    again = await w.post("/commands", json=alice(), headers={"Idempotency-Key": "k-1"})
    assert again.status_code == 200 and again.json()["position"] == first.json()["position"]
    assert await system.store.head() == 1
    assert [e.data["first_name"] for e in await system.store.read("u1")] == ["Alice"]


async def test_twenty_concurrent_retries_of_one_command_are_one_effect(apis):
    system, read, w, r = apis
    answers = await asyncio.gather(
        *(w.post("/commands", json=alice(), headers={"Idempotency-Key": "retry-me"}) for _ in range(20))
    )
    assert sorted(a.status_code for a in answers) == [200] * 19 + [201], [a.text for a in answers]
    assert len({a.json()["position"] for a in answers}) == 1
    assert await system.store.head() == 1


@pytest.mark.parametrize("field", ["first_name", "last_name", "email", "user_id"])
async def test_a_nul_character_in_any_field_is_422_not_500(apis, field):
    system, read, w, r = apis
    body = alice()
    body[field] = body[field][:2] + "\u0000" + body[field][2:]
    got = await w.post("/commands", json=body)
    assert got.status_code == 422, got.text
    assert got.json()["detail"][0]["loc"][-1] == field
    reason = await w.post("/commands", json={"type": "DeleteUser", "user_id": "u1", "reason": "a\u0000"})
    assert reason.status_code == 422 and reason.json()["detail"][0]["loc"][-1] == "reason"
    assert await system.store.head() == 0


@pytest.mark.parametrize(
    "body, status",
    [
        ({"type": "CreateUser", "user_id": "u2", "first_name": "", "last_name": "L", "email": "x@example.org"}, 422),
        ({"type": "CreateUser", "user_id": "u2", "first_name": "A", "last_name": "L", "email": "nope"}, 422),
        ({"type": "Explode", "user_id": "u2"}, 422),
        ({"type": "ActivateUser", "user_id": "ghost"}, 404),
        (alice("u2"), 409),  # the email is taken by u1
        (alice("u1", "new@example.org"), 409),  # u1 exists
    ],
)
async def test_bad_commands_get_a_reason_and_store_nothing(apis, body, status):
    system, read, w, r = apis
    await w.post("/commands", json=alice())
    got = await w.post("/commands", json=body)
    assert got.status_code == status, got.text
    assert got.json()["detail"]
    assert await system.store.head() == 1


async def test_the_cache_serves_repeats_and_never_an_entry_older_than_an_event(apis):
    system, read, w, r = apis
    created = (await w.post("/commands", json=alice())).json()
    await r.get("/users/u1", params={"after": created["position"]})
    await r.get("/users/u1")
    assert read.cache.hits == 1
    changed = (
        await w.post("/commands", json={"type": "ChangeEmail", "user_id": "u1", "email": "alice@wonderland.example"})
    ).json()
    await system.wait_visible(changed["position"])
    got = (await r.get("/users/u1")).json()
    assert got["email"] == "alice@wonderland.example" and read.cache.stale == 1


async def test_health_and_positions(apis):
    system, read, w, r = apis
    assert (await w.get("/healthz")).json() == {"status": "ok", "detail": None}
    assert (await r.get("/healthz")).status_code == 200
    body = (await w.post("/commands", json=alice())).json()
    await system.wait_visible(body["position"])
    positions = (await r.get("/positions")).json()
    assert positions["head"] == 1 and positions["models"] == {"users_v1": 1, "activity": 1, "cache": 1}
