"""Dual write loses an event when the process dies between save and publish; the outbox does not."""

from __future__ import annotations

import asyncio

from workshop.bus.rabbitmq import RabbitBus
from workshop.orders import crashdemo, db, domain, outbox, schemas


async def test_dual_write_loses_the_event_of_the_order_saved_before_the_crash(ws_settings):
    r = await crashdemo.run(ws_settings, "dual-write", orders=5, crash_at=3)
    assert r.exit_signal == 9  # really killed
    assert (r.saved, r.published, r.lost) == (3, 2, 1)


async def test_outbox_publishes_every_saved_order_after_the_crash(ws_settings):
    r = await crashdemo.run(ws_settings, "outbox", orders=5, crash_at=3)
    assert r.exit_signal == 9
    assert (r.saved, r.published, r.lost) == (3, 3, 0)


async def test_an_event_whose_queue_does_not_exist_yet_is_parked_by_the_broker_not_dropped(ws_settings):
    """A bare confirm would lose it (RabbitMQ confirms an unroutable message, then drops it): the relay
    marks it published, so the broker must keep it — in ns.unrouted — until its queue exists."""
    pool = await db.open_pool(ws_settings, max_size=2)
    bus = await RabbitBus.open(ws_settings, validate=schemas.validate)
    try:
        created = domain.place_order("ORD-1", "alice", [{"sku": "BOOK", "qty": 1, "price": 10.0}], 10.0)
        async with pool.connection() as conn:
            async with conn.transaction():
                await outbox.add(conn, "order", [created])
        relay = outbox.Relay(pool, bus, "order")
        assert await relay.flush() == 1  # confirmed: no payment queue yet, so the broker parked it
        assert await outbox.pending(pool, "order") == 0
        [parked] = await bus.unrouted()
        assert (parked.routing_key, parked.event.event_id) == ("order.ordercreated", created.event_id)

        got = []

        async def payment(event, delivery):
            got.append(event.event_id)

        await bus.subscribe("payment", ["order.ordercreated"], payment)
        assert await bus.replay_unrouted() == 1
        for _ in range(250):
            if got:
                break
            await asyncio.sleep(0.02)
        assert got == [created.event_id] and await bus.unrouted() == []
    finally:
        await bus.close()
        await pool.close()
