"""The read API (FastAPI, port 8001): queries answered from the read models, never from the event store.

* ``GET /users/{id}`` — from the users table, through the Redis cache (``cache.py``);
* ``GET /users`` — a page of users, optionally by status;
* ``GET /stats`` and ``GET /activity`` — from the Redis read model;
* ``GET /positions`` — how far each read model has got in the feed.

**Read your writes.** The write API answers with the command's feed
``position``. Pass it as ``?after=<position>``: the read API waits (up to
``wait`` seconds, at most 5) until the model has applied that position, then
answers. If it cannot catch up in time: **409** with ``Retry-After`` — never
an answer older than the client's own write. (Not a 5xx: nothing is broken,
the model is just behind the position the client asked for.) Every answer carries the
model's position in ``X-Read-Position``.

    python -m workshop.run.cqrs read-api --port 8001     # compose: cqrs-read-api
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated, Any, Literal

from fastapi import FastAPI, HTTPException, Path, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from workshop.cqrs.cache import UserCache
from workshop.cqrs.readmodels import Activity
from workshop.webapi import Problem, ValidationProblem, add_healthz, harden, problem

MAX_WAIT = 5.0
USER_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


class UserView(BaseModel):
    user_id: str
    name: str
    email: str
    status: str
    version: int
    position: int


class UserPage(BaseModel):
    users: list[UserView]
    position: int


class Stats(BaseModel):
    counts: dict[str, int]
    position: int


class ActivityItem(BaseModel):
    position: int
    type: str
    user_id: str
    at: str


class Positions(BaseModel):
    head: int
    models: dict[str, int]


class NotCaughtUp(Exception):
    def __init__(self, position: int, wanted: int) -> None:
        self.position, self.wanted = position, wanted


class ReadSide:
    """The queries, over a PostgreSQL pool (the store's schema) and Redis."""

    COLUMNS = ("user_id", "name", "email", "status", "version", "position")

    def __init__(self, pool: Any, schema: str, redis: Any, namespace: Any) -> None:
        self.pool, self.schema, self.redis, self.ns = pool, schema, redis, namespace
        self.cache = UserCache(redis, namespace)
        self.activity = Activity()

    async def users_position(self) -> int:
        """The active users table's checkpoint."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f'SELECT c.position FROM "{self.schema}".read_models m JOIN '
                f'"{self.schema}".checkpoints c ON c.name = m.active WHERE m.name = %s',
                ("users",),
            )
            row = await cur.fetchone()
        return row[0] if row else 0

    async def activity_position(self) -> int:
        return int(await self.redis.get(self.ns.key("cqrs", self.activity.name, "checkpoint")) or 0)

    async def wait_for(self, position_of: Any, after: int | None, wait: float) -> int:
        """The model's position once it is >= ``after`` (polling every 5 ms, up to ``wait`` s)."""
        deadline = time.monotonic() + wait
        while True:
            position = await position_of()
            if after is None or position >= after:
                return position
            if time.monotonic() >= deadline:
                raise NotCaughtUp(position, after)
            await asyncio.sleep(0.005)

    async def user(self, user_id: str, after: int | None = None) -> dict | None:
        if after is not None:  # a cached row that already includes the client's write is good enough
            cached = await self.cache.get(user_id)
            if cached is not None and cached["position"] >= after:
                return cached
        elif (cached := await self.cache.get(user_id)) is not None:
            return cached
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f'SELECT {", ".join(self.COLUMNS)} FROM "{self.schema}".users WHERE user_id = %s', (user_id,)
            )
            row = await cur.fetchone()
        if row is None:
            return None
        found = dict(zip(self.COLUMNS, row))
        await self.cache.put(found)
        return found

    async def users(self, status: str | None, limit: int, offset: int) -> list[dict]:
        where, params = ("WHERE status = %s", [status]) if status else ("", [])
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f'SELECT {", ".join(self.COLUMNS)} FROM "{self.schema}".users {where} '
                "ORDER BY user_id LIMIT %s OFFSET %s",
                (*params, limit, offset),
            )
            return [dict(zip(self.COLUMNS, r)) for r in await cur.fetchall()]

    async def stats(self) -> dict[str, int]:
        counts = await self.redis.hgetall(self.activity.keys(self.ns)["counts"])
        return {k: int(v) for k, v in counts.items()}

    async def recent(self, limit: int) -> list[dict]:
        return [json.loads(x) for x in await self.redis.lrange(self.activity.keys(self.ns)["recent"], 0, limit - 1)]

    async def positions(self) -> dict:
        async with self.pool.connection() as conn:
            cur = await conn.execute(f'SELECT name, position FROM "{self.schema}".checkpoints')
            models = dict(await cur.fetchall())
            head = (
                await (await conn.execute(f'SELECT coalesce(max(position), 0) FROM "{self.schema}".events')).fetchone()
            )[0]
        models.pop("relay", None)
        for name in ("activity", "cache"):
            models[name] = int(await self.redis.get(self.ns.key("cqrs", name, "checkpoint")) or 0)
        return {"head": head, "models": models}


INVALID = {"model": ValidationProblem, "description": "a parameter is invalid: each problem names it (`loc`)"}
BEHIND = {
    "model": Problem,
    "description": "the read model did not reach `after` within `wait` seconds; retry",
    "headers": {"Retry-After": {"description": "seconds", "schema": {"type": "string"}}},
}
UNAVAILABLE = problem("a read model's database cannot be reached; try again shortly")
POSITION = {"X-Read-Position": {"description": "the feed position the answer reflects", "schema": {"type": "integer"}}}
After = Annotated[
    int | None, Query(ge=0, le=2**62, description="the `position` from the write API: wait until it is visible")
]


def create_app(read: ReadSide | Any, *, max_wait: float = MAX_WAIT) -> FastAPI:
    """The read API over a :class:`ReadSide` (or anything with its methods); ``wait`` is capped at ``max_wait`` s."""

    def waiting() -> Any:  # a default value, not an annotation: ``max_wait`` is known only here
        return Query(
            min(2.0, max_wait), ge=0, le=max_wait, allow_inf_nan=False, description="seconds to wait for `after`"
        )

    import psycopg
    import psycopg_pool
    import redis.exceptions

    app = harden(FastAPI(title="Users — read side", version="1.0"))

    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(psycopg_pool.PoolTimeout)
    @app.exception_handler(redis.exceptions.ConnectionError)
    @app.exception_handler(redis.exceptions.TimeoutError)
    async def unavailable(request: Any, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": "a read model cannot be reached; try again shortly"}, 503)

    @app.exception_handler(NotCaughtUp)
    async def behind(request: Any, exc: Exception) -> JSONResponse:
        assert isinstance(exc, NotCaughtUp)
        return JSONResponse(
            {"detail": f"the read model is at position {exc.position}, not yet at {exc.wanted}; retry shortly"},
            409,
            headers={"Retry-After": "1"},
        )

    @app.get(
        "/users/{user_id}",
        response_model=UserView,
        responses={
            200: {"headers": POSITION},
            404: problem("no such user (yet: pass `after` to wait for your write)"),
            409: BEHIND,
            422: INVALID,
            503: UNAVAILABLE,
        },
    )
    async def get_user(
        response: Response, user_id: Annotated[str, Path(pattern=USER_ID)], after: After = None, wait: float = waiting()
    ) -> Any:
        position = await read.wait_for(read.users_position, after, wait)
        found = await read.user(user_id, after)
        response.headers["X-Read-Position"] = str(position)
        if found is None:
            raise HTTPException(404, f"no user {user_id!r} in the read model at position {position}")
        return found

    @app.get("/users", response_model=UserPage, responses={409: BEHIND, 422: INVALID, 503: UNAVAILABLE})
    async def list_users(
        status: Literal["inactive", "active", "deleted"] | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
        after: After = None,
        wait: float = waiting(),
    ) -> Any:
        position = await read.wait_for(read.users_position, after, wait)
        return {"users": await read.users(status, limit, offset), "position": position}

    @app.get("/stats", response_model=Stats, responses={409: BEHIND, 422: INVALID, 503: UNAVAILABLE})
    async def stats(after: After = None, wait: float = waiting()) -> Any:
        position = await read.wait_for(read.activity_position, after, wait)
        return {"counts": await read.stats(), "position": position}

    @app.get("/activity", response_model=list[ActivityItem], responses={422: INVALID, 503: UNAVAILABLE})
    async def activity(limit: Annotated[int, Query(ge=1, le=50)] = 20) -> Any:
        return await read.recent(limit)

    @app.get("/positions", response_model=Positions, responses={503: UNAVAILABLE})
    async def positions() -> Any:
        return await read.positions()

    async def both_models() -> None:
        await read.users_position()
        await read.activity_position()

    add_healthz(app, both_models, what="the read models")
    return app


async def open_read_side(s: Any = None) -> tuple[ReadSide, Any]:
    """A :class:`ReadSide` on ``s``' services, and a coroutine function that closes it."""
    from workshop import connect
    from workshop.config import settings
    from workshop.cqrs.system import open_store

    s = s or settings()
    store = await open_store(s)
    redis = await connect.redis(s)

    async def close() -> None:
        await redis.aclose()
        await store.close()

    return ReadSide(store.pool, store.schema, redis, s.namespace), close
