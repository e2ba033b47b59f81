"""Notification service: reacts to every step of every order, and tells the customer about those they care about.

It keeps its own copy of who placed which order (from ``OrderCreated``), so it
never has to ask the order service. ``python -m workshop.run.orders notification``.
"""

from __future__ import annotations

from typing import Any

from workshop.events import Event
from workshop.orders import domain
from workshop.orders.service import Service


class NotificationService(Service):
    """Notification: one message to the customer per step they care about."""

    name = "notification"
    bindings = ("order.*", "payment.*", "inventory.*", "shipping.*")  # not notification.*: no loops

    async def handle(self, conn: Any, event: Event) -> list[Event]:
        if event.event_type == "OrderCreated":
            await conn.execute(
                "INSERT INTO recipients (order_id, user_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (event.aggregate_id, event.data["user_id"]),
            )
        cur = await conn.execute("SELECT user_id FROM recipients WHERE order_id = %s", (event.aggregate_id,))
        row = await cur.fetchone()
        sent = domain.notification(event, row[0] if row else "unknown")
        if sent is None:
            return []
        await conn.execute(
            "INSERT INTO notifications (order_id, user_id, text) VALUES (%s, %s, %s)",
            (event.aggregate_id, sent.data["user_id"], sent.data["text"]),
        )
        return [sent]
