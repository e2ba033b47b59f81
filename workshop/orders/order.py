"""Order service: takes orders (HTTP API in :mod:`workshop.orders.api`) and follows each saga.

Placing an order writes the order row and its ``OrderCreated`` to the outbox in
one transaction — never "save, then publish". It listens to the other services'
events to keep the order's status, and closes failed sagas with
``OrderCancelled``. ``python -m workshop.orders.order --port 8000``.
"""

from __future__ import annotations

import json
from typing import Any

from workshop.events import Event
from workshop.orders import domain, outbox
from workshop.orders.service import Service, run_main


class OrderService(Service):
    """Order: accept orders, track their status, cancel failed ones."""

    name = "order"
    bindings = ("payment.*", "inventory.*", "shipping.*")

    async def place(self, user_id: str, items: list[dict], total: float | None = None) -> str:
        """Create an order; returns its id. ``total`` defaults to the sum of the items."""
        order_id = domain.new_order_id()
        if total is None:
            total = round(sum(i["qty"] * i["price"] for i in items), 2)
        created = domain.place_order(order_id, user_id, items, total)  # validated against its schema
        async with self.pool.connection() as conn:
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO orders (id, user_id, items, total, status) VALUES (%s, %s, %s, %s, 'pending')",
                    (order_id, user_id, json.dumps(created.data["items"]), total))
                await outbox.add(conn, self.name, [created])
        self.relay.poke()
        return order_id

    async def get(self, order_id: str) -> dict | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT id, user_id, items, total, status FROM orders WHERE id = %s",
                                     (order_id,))
            row = await cur.fetchone()
        if row is None:
            return None
        return {"order_id": row[0], "user_id": row[1], "items": row[2], "total": float(row[3]), "status": row[4]}

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
            await conn.execute("UPDATE orders SET status = %s, updated_at = now() WHERE id = %s",
                               (status, event.aggregate_id))
        return [reaction] if reaction else []


if __name__ == "__main__":
    raise SystemExit(run_main(OrderService))
