"""The whole order system inside one event loop — a notebook kernel or a test.

    system = OrderSystem(settings)
    await system.start()                       # five services as asyncio tasks
    oid = await system.place_order("alice", [{"sku": "BOOK", "qty": 1, "price": 12.5}])
    await system.wait_final([oid])             # {'ORD-…': 'shipped'}
    await system.stop()

The same service classes run as processes (``python -m workshop.run.orders payment``);
pass ``services=("order",)`` to run only some of them here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from workshop.config import Settings
from workshop.config import settings as load_settings
from workshop.orders import db, schemas
from workshop.orders.inventory import InventoryService
from workshop.orders.notification import NotificationService
from workshop.orders.order import OrderService
from workshop.orders.payment import PaymentService
from workshop.orders.service import Service
from workshop.orders.shipping import ShippingService
from workshop.waiting import until

SERVICES: dict[str, type[Service]] = {
    cls.name: cls for cls in (OrderService, PaymentService, InventoryService, ShippingService, NotificationService)
}
DEFAULT_STOCK = {"BOOK": 1000, "MUG": 1000, "LAMP": 3}
FINAL = ("shipped", "cancelled")


@dataclass
class OrderSystem:
    settings: Settings = field(default_factory=load_settings)
    bus_kind: str = "rabbitmq"
    services: tuple[str, ...] = tuple(SERVICES)
    work_delay: dict[str, float] = field(default_factory=dict)  # e.g. {"payment": 0.05}
    prefetch: int = 20
    pool_size: int = 10  # PostgreSQL connections shared by the five services
    pool: Any = None
    bus: Any = None
    running: dict[str, Service] = field(default_factory=dict)

    async def start(self, stock: dict[str, int] | None = None) -> OrderSystem:
        from workshop.bus import open_bus

        self.pool = await db.open_pool(self.settings, max_size=self.pool_size)
        if self.bus is None:  # a bus handed in (e.g. chapter 7's, on a cluster) is used as it is
            self.bus = await open_bus(self.bus_kind, self.settings, validate=schemas.validate)
        await db.seed_stock(self.pool, DEFAULT_STOCK if stock is None else stock)
        # the order service is always created (it takes orders) but only consumes if asked to
        for name in ("order", *[n for n in self.services if n != "order"]):
            svc = SERVICES[name](self.pool, self.bus, prefetch=self.prefetch, work_delay=self.work_delay.get(name, 0))
            self.running[name] = svc
            if name in self.services:
                await svc.start()
            else:
                svc.relay.start()  # still publish what it places
        return self

    @property
    def orders(self) -> OrderService:
        return self.running["order"]  # type: ignore[return-value]

    async def place_order(self, user_id: str, items: list[dict], total: float | None = None) -> str:
        return await self.orders.place(user_id, items, total)

    async def statuses(self, order_ids: Iterable[str] | None = None) -> dict[str, str]:
        if order_ids is None:
            rows = await db.fetch(self.pool, "SELECT id, status FROM orders")
        else:
            rows = await db.fetch(self.pool, "SELECT id, status FROM orders WHERE id = ANY(%s)", (list(order_ids),))
        return dict(rows)

    async def wait_final(self, order_ids: Iterable[str], timeout: float = 30.0) -> dict[str, str]:
        """Wait until every order is shipped or cancelled; a one-line WaitTimeout names the stragglers."""
        ids = list(order_ids)
        states: dict[str, str] = {}

        async def all_final() -> bool:
            states.update(await self.statuses(ids))
            return all(states.get(i) in FINAL for i in ids)

        def stragglers() -> str:
            open_ = {i: states.get(i, "missing") for i in ids if states.get(i) not in FINAL}
            return f"{len(open_)} still open, e.g. {dict(list(open_.items())[:5])}"

        await until(
            all_final,
            timeout=timeout,
            every=0.05,
            what=f"{len(ids)} order(s) to be shipped or cancelled",
            detail=stragglers,
        )
        return {i: states[i] for i in ids}

    async def wait_quiet(self, timeout: float = 10.0) -> None:
        """Wait until the last order's notifications are out: nothing left in any outbox."""
        from workshop.orders import outbox

        async def empty() -> bool:
            return not await outbox.pending(self.pool)

        await until(empty, timeout=timeout, every=0.05, what="every outbox to be empty")
        await asyncio.sleep(0.2)  # the last relayed events are still on their way to their consumers

    def stats(self) -> dict[str, dict[str, int]]:
        return {name: svc.stats for name, svc in self.running.items()}

    async def stop(self) -> None:
        for svc in self.running.values():
            await svc.stop()
        self.running.clear()
        if self.bus is not None:
            await self.bus.close()
        if self.pool is not None:
            await self.pool.close()
        self.bus = self.pool = None

    async def __aenter__(self) -> OrderSystem:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()
