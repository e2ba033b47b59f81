"""The tap sees every event with its publisher; the swimlanes and the causation tree show the saga."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from workshop.orders.system import OrderSystem  # noqa: E402
from workshop.viz.timeline import Tap, saga_tree, swimlanes  # noqa: E402


async def test_tap_records_a_whole_saga_with_services_and_causation(ws_settings):
    async with OrderSystem(ws_settings) as system:
        tap = await Tap.start(system.bus)
        oid = await system.place_order("alice", [{"sku": "BOOK", "qty": 1, "price": 10}])
        await system.wait_final([oid])
        await tap.wait_for(7)  # 4 saga events + 3 notifications (none for InventoryReserved)
        assert saga_tree(tap.records, oid) == "\n".join(
            [
                "order: OrderCreated",
                "    payment: PaymentProcessed",
                "        inventory: InventoryReserved",
                "            shipping: OrderShipped",
                "                notification: NotificationSent",
                "        notification: NotificationSent",
                "    notification: NotificationSent",
            ]
        )
        fig = swimlanes(tap.records)
        ax = fig.axes[0]
        assert [t.get_text() for t in ax.get_yticklabels()] == [
            "order",
            "payment",
            "inventory",
            "shipping",
            "notification",
        ]
        assert len(ax.collections) == 7  # one dot per event
        arrows = [a for a in ax.texts if a.arrow_patch is not None]
        assert len(arrows) == 6  # every event but the first has a cause
        df = tap.frame()
        assert list(df["service"])[0] == "order" and len(df) == 7
        await tap.stop()
