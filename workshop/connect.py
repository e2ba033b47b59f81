"""Open connections to the services — with short timeouts and a one-line error.

Every chapter connects through these helpers, so a learner whose Redis is down
sees ``ServiceUnavailable: Redis is not reachable at redis://127.0.0.1:6379/0
(connection refused: nothing listens there). Start it: …`` on the first cell,
not a 60-line trace and never a hang.

    r = await connect.redis()           # redis.asyncio.Redis (decode_responses=True)
    conn = await connect.amqp()         # aio_pika RobustConnection
    pool = await connect.postgres_pool()  # psycopg_pool.AsyncConnectionPool, opened
"""

from __future__ import annotations

import asyncio
from typing import Any

from workshop.config import Settings, settings
from workshop.errors import ServiceUnavailable, WorkshopError
from workshop.fixes import fix_for

TIMEOUT = 5.0  # seconds: long enough for a loaded classroom server, short enough to never feel like a hang


def failure_reason(exc: BaseException) -> str:
    """One short line saying why a connection failed (``connect`` and the doctor both use it).

    Our own errors already say it in words and are kept as they are; a library's
    error counts as "connection refused" only when it says exactly that.
    """
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "timed out"
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, WorkshopError):
        return text
    low = text.lower()
    if isinstance(exc, ConnectionRefusedError) or "connection refused" in low or "connect call failed" in low:
        return "connection refused: nothing listens there"
    return text[:200]


async def redis(s: Settings | None = None, *, decode_responses: bool = True, timeout: float = TIMEOUT):
    """A checked ``redis.asyncio.Redis`` client. Close it with ``await r.aclose()``."""
    import redis.asyncio as aioredis

    s = s or settings()
    client = aioredis.from_url(
        s.redis_url, decode_responses=decode_responses, socket_connect_timeout=timeout, socket_timeout=timeout
    )
    try:
        await asyncio.wait_for(client.ping(), timeout)
    except Exception as exc:
        await client.aclose()
        raise ServiceUnavailable("Redis", s.redis_url, failure_reason(exc), fix_for("Redis")) from None
    return client


async def amqp(s: Settings | None = None, *, robust: bool = True, timeout: float = TIMEOUT, **kw: Any):
    """A checked aio-pika connection (robust: it reconnects if RabbitMQ restarts)."""
    import aio_pika

    s = s or settings()
    connect = aio_pika.connect_robust if robust else aio_pika.connect
    try:
        return await asyncio.wait_for(connect(s.amqp_url, timeout=timeout, **kw), timeout + 1)
    except Exception as exc:
        raise ServiceUnavailable("RabbitMQ", s.amqp_url, failure_reason(exc), fix_for("RabbitMQ")) from None


async def postgres(s: Settings | None = None, *, timeout: float = TIMEOUT, **kw: Any):
    """One checked ``psycopg.AsyncConnection`` (autocommit off, as psycopg defaults)."""
    import psycopg

    s = s or settings()
    try:
        return await psycopg.AsyncConnection.connect(s.database_url, connect_timeout=max(1, int(timeout)), **kw)
    except Exception as exc:
        raise ServiceUnavailable("PostgreSQL", s.database_url, failure_reason(exc), fix_for("PostgreSQL")) from None


async def postgres_pool(
    s: Settings | None = None, *, min_size: int = 1, max_size: int = 8, timeout: float = TIMEOUT, **kw: Any
):
    """An opened, checked ``psycopg_pool.AsyncConnectionPool``. Close with ``await pool.close()``.

    ``reconnect_timeout`` defaults to ``timeout``: psycopg_pool retries a lost connection with
    exponential backoff (1, 2, 4, 8, 16 s …) for 5 minutes, so after a server was gone for ~20 s
    (a Patroni failover) its next attempt is ~16 s away and every caller waiting ``timeout`` for a
    connection gets ``PoolTimeout`` although the server (the new primary) answers again. With
    the two equal, an attempt gives up within ``timeout`` and the next caller starts a fresh one.
    """
    from psycopg_pool import AsyncConnectionPool

    s = s or settings()
    # check first with one plain connection: a pool would otherwise retry quietly until its timeout
    conn = await postgres(s, timeout=timeout)
    await conn.close()
    pool = AsyncConnectionPool(
        s.database_url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        timeout=timeout,
        reconnect_timeout=kw.pop("reconnect_timeout", timeout),
        kwargs={"connect_timeout": max(1, int(timeout)), **kw.pop("kwargs", {})},
        **kw,
    )
    try:
        await pool.open(wait=True, timeout=timeout)
    except Exception as exc:
        await pool.close()
        raise ServiceUnavailable("PostgreSQL", s.database_url, failure_reason(exc), fix_for("PostgreSQL")) from None
    return pool
