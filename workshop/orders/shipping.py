"""Shipping service: issues a tracking number once the stock is reserved.

``python -m workshop.run.orders shipping`` runs it alone.
"""

from __future__ import annotations

from typing import Any

from workshop.events import Event
from workshop.orders import domain
from workshop.orders.service import Service


class ShippingService(Service):
    """Shipping: ship reserved orders with a tracking number."""

    name = "shipping"
    bindings = ("inventory.reserved",)

    async def handle(self, conn: Any, event: Event) -> list[Event]:
        shipped = domain.ship(event)
        await conn.execute(
            "INSERT INTO shipments (order_id, tracking_number) VALUES (%s, %s)",
            (event.aggregate_id, shipped.data["tracking_number"]),
        )
        return [shipped]
