"""The order system's tables, in the namespace's own PostgreSQL schema.

Each service owns its tables (a real system would give each its own database;
one schema keeps the workshop's set-up to one command). ``inbox`` and
``outbox`` are shared plumbing, keyed by the service's name. Amounts are
``numeric(12,2)``: exact, at most 9 999 999 999.99 (``schemas.MAX_AMOUNT``).
"""

from __future__ import annotations

from typing import Any

from workshop import connect
from workshop.config import Settings

DDL = """
CREATE TABLE IF NOT EXISTS orders (          -- order service
    id text PRIMARY KEY, user_id text NOT NULL, items jsonb NOT NULL, total numeric(12,2) NOT NULL,
    status text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS idempotency_keys (  -- order service: the order each client's Idempotency-Key made
    key text PRIMARY KEY, fingerprint text NOT NULL,  -- sha256 of the order, to tell a retry from a new order
    order_id text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS payments (        -- payment service: one row per money movement
    id bigserial PRIMARY KEY, order_id text NOT NULL, payment_id text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('charge', 'refund')), amount numeric(12,2) NOT NULL,
    at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS stock (           -- inventory service
    sku text PRIMARY KEY, qty integer NOT NULL CHECK (qty >= 0));
CREATE TABLE IF NOT EXISTS shipments (       -- shipping service
    id bigserial PRIMARY KEY, order_id text NOT NULL, tracking_number text NOT NULL,
    at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS recipients (      -- notification service: who to tell about an order
    order_id text PRIMARY KEY, user_id text NOT NULL);
CREATE TABLE IF NOT EXISTS notifications (
    id bigserial PRIMARY KEY, order_id text NOT NULL, user_id text NOT NULL, text text NOT NULL,
    at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS inbox (           -- idempotency: which events a consumer already handled
    consumer text NOT NULL, event_id text NOT NULL, received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id));
CREATE TABLE IF NOT EXISTS outbox (          -- events written with the state change, published by a relay
    id bigserial PRIMARY KEY, source text NOT NULL, routing_key text NOT NULL, event_id text NOT NULL,
    body text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), published_at timestamptz);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (source, id) WHERE published_at IS NULL;
"""


async def open_pool(s: Settings, *, max_size: int = 10) -> Any:
    """A connection pool whose ``search_path`` is the namespace's schema (created if missing)."""
    await setup(s)
    return await connect.postgres_pool(s, max_size=max_size, kwargs={"options": f"-c search_path={s.namespace.schema}"})


async def setup(s: Settings) -> None:
    """Create the schema and tables; safe to run from several processes at once."""
    schema = s.namespace.schema  # validated by Namespace: [a-z][a-z0-9_]*
    conn = await connect.postgres(s, autocommit=False)
    async with conn:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (schema,))
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            await conn.execute(f'SET LOCAL search_path TO "{schema}"')
            await conn.execute(DDL)


async def seed_stock(pool: Any, levels: dict[str, int]) -> None:
    """Set stock levels (insert or overwrite)."""
    async with pool.connection() as conn:
        async with conn.transaction():
            for sku, qty in levels.items():
                await conn.execute(
                    "INSERT INTO stock (sku, qty) VALUES (%s, %s) ON CONFLICT (sku) DO UPDATE SET qty = EXCLUDED.qty",
                    (sku, qty),
                )


async def fetch(pool: Any, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of one query (for notebooks and tests)."""
    async with pool.connection() as conn:
        cur = await conn.execute(sql, params)
        return await cur.fetchall()
