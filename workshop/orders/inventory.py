"""Inventory service: reserves stock for paid orders, all items or none.

``python -m workshop.run.orders inventory`` runs it alone.
"""

from __future__ import annotations

from typing import Any

from workshop.events import Event
from workshop.orders import domain
from workshop.orders.service import Service


class InventoryService(Service):
    """Inventory: reserve stock on PaymentProcessed, or report a shortage."""

    name = "inventory"
    bindings = ("payment.processed",)

    async def handle(self, conn: Any, event: Event) -> list[Event]:
        skus = sorted({item["sku"] for item in event.data["items"]})
        # lock the rows in a fixed order: two orders for the same skus never deadlock
        cur = await conn.execute("SELECT sku, qty FROM stock WHERE sku = ANY(%s) ORDER BY sku FOR UPDATE", (skus,))
        stock = dict(await cur.fetchall())
        new_levels, result = domain.reserve(stock, event)
        for sku, qty in new_levels.items():
            await conn.execute("UPDATE stock SET qty = %s WHERE sku = %s", (qty, sku))
        return [result]
