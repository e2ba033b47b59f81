"""Order service: takes orders (HTTP API in :mod:`workshop.orders.api`) and follows each saga.

Placing an order writes the order row and its ``OrderCreated`` to the outbox in
one transaction — never "save, then publish". The row and the event carry the
same exact amount (a ``Decimal`` in the row's ``numeric(12,2)``, ``"12.50"`` in
the event). A client that retries sends an *idempotency key*: the key is
claimed in that same transaction, so twenty identical retries make one order
and one event. It listens to the other services' events to keep the order's
status, and closes failed sagas with ``OrderCancelled``.
``python -m workshop.run.orders order --port 8000``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from decimal import Decimal
from typing import Any

from workshop.events import Event
from workshop.orders import domain, outbox
from workshop.orders.domain import IdempotencyConflict
from workshop.orders.service import Service


class OrderService(Service):
    """Order: accept orders, track their status, cancel failed ones."""

    name = "order"
    bindings = ("payment.*", "inventory.*", "shipping.*")

    async def place(
        self,
        user_id: str,
        items: list[dict],
        total: Decimal | float | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> str:
        """Create an order; returns its id. ``total`` defaults to the sum of the items."""
        order_id, _ = await self.submit(user_id, items, total, idempotency_key=idempotency_key)
        return order_id

    async def submit(
        self,
        user_id: str,
        items: list[dict],
        total: Decimal | float | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> tuple[str, bool]:
        """:meth:`place`, and whether this call created the order.

        With an ``idempotency_key`` already used for the same order, nothing is
        written and the first order's id comes back with ``False``; used for a
        different order, it raises :class:`IdempotencyConflict`.
        """
        created = domain.place_order(domain.new_order_id(), user_id, items, total)  # validated against its schema
        async with self.pool.connection() as conn:
            async with conn.transaction():
                if idempotency_key is not None:
                    earlier = await _claim(conn, idempotency_key, created)
                    if earlier is not None:
                        return earlier, False
                await conn.execute(
                    "INSERT INTO orders (id, user_id, items, total, status) VALUES (%s, %s, %s, %s, 'pending')",
                    (created.aggregate_id, user_id, json.dumps(created.data["items"]), Decimal(created.data["total"])),
                )
                await outbox.add(conn, self.name, [created])
        self.relay.poke()
        return created.aggregate_id, True

    async def get(self, order_id: str) -> dict | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT id, user_id, items, total, status FROM orders WHERE id = %s", (order_id,))
            row = await cur.fetchone()
        if row is None:
            return None
        return {"order_id": row[0], "user_id": row[1], "items": row[2], "total": f"{row[3]:.2f}", "status": row[4]}

    async def ping(self, timeout: float = 2.0) -> None:
        """Raise unless the database answers within ``timeout`` seconds."""

        async def query() -> None:
            async with self.pool.connection(timeout=timeout) as conn:
                await conn.execute("SELECT 1")

        await asyncio.wait_for(query(), timeout)

    async def handle(self, conn: Any, event: Event) -> list[Event]:
        cur = await conn.execute("SELECT status FROM orders WHERE id = %s FOR UPDATE", (event.aggregate_id,))
        row = await cur.fetchone()
        if row is None:
            return []  # not one of ours (e.g. a demo event): nothing to update
        status = domain.next_status(row[0], event)
        reaction = domain.order_reaction(event)
        if reaction is not None:
            status = domain.next_status(status, reaction)
        if status != row[0]:
            await conn.execute(
                "UPDATE orders SET status = %s, updated_at = now() WHERE id = %s", (status, event.aggregate_id)
            )
        return [reaction] if reaction else []


async def _claim(conn: Any, key: str, created: Event) -> str | None:
    """Claim ``key`` for this order inside the caller's transaction; the earlier order's id if it was taken.

    A concurrent request with the same key waits on the primary key until the
    first one commits, then sees its row: one order, however many retries race.
    """
    fingerprint = hashlib.sha256(json.dumps(created.data, sort_keys=True).encode()).hexdigest()
    cur = await conn.execute(
        "INSERT INTO idempotency_keys (key, fingerprint, order_id) VALUES (%s, %s, %s) ON CONFLICT (key) DO NOTHING",
        (key, fingerprint, created.aggregate_id),
    )
    if cur.rowcount == 1:
        return None
    cur = await conn.execute("SELECT fingerprint, order_id FROM idempotency_keys WHERE key = %s", (key,))
    earlier_fingerprint, order_id = await cur.fetchone()
    if earlier_fingerprint != fingerprint:
        raise IdempotencyConflict(
            f"the idempotency key {key[:40]!r} was already used for another order "
            f"({order_id}); use a new key for a new order"
        )
    return order_id
