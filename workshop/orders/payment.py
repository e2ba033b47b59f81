"""Payment service: charges on ``OrderCreated``, refunds on ``InventoryShortage`` (the compensation).

Run it alone with ``python -m workshop.run.orders payment``; start three for
competing consumers — the inbox makes sure no payment is taken twice.
"""

from __future__ import annotations

from typing import Any

from workshop.events import Event
from workshop.orders import domain
from workshop.orders.service import Service


class PaymentService(Service):
    """Payment: charge new orders, refund orders inventory could not fill."""

    name = "payment"
    bindings = ("order.ordercreated", "inventory.shortage")

    async def handle(self, conn: Any, event: Event) -> list[Event]:
        if event.event_type == "OrderCreated":
            result = domain.charge(event)
            if result.event_type == "PaymentProcessed":
                await conn.execute(
                    "INSERT INTO payments (order_id, payment_id, kind, amount) VALUES (%s, %s, 'charge', %s)",
                    (event.aggregate_id, result.data["payment_id"], result.data["amount"]),
                )
            return [result]
        if event.event_type == "InventoryShortage":
            result = domain.refund(event)
            await conn.execute(
                "INSERT INTO payments (order_id, payment_id, kind, amount) VALUES (%s, %s, 'refund', %s)",
                (event.aggregate_id, result.data["payment_id"], result.data["amount"]),
            )
            return [result]
        return []
