"""Dual write loses an event when the process dies between save and publish; the outbox does not."""

from __future__ import annotations

from workshop.orders import crashdemo


async def test_dual_write_loses_the_event_of_the_order_saved_before_the_crash(ws_settings):
    r = await crashdemo.run(ws_settings, "dual-write", orders=5, crash_at=3)
    assert r.exit_signal == 9  # really killed
    assert (r.saved, r.published, r.lost) == (3, 2, 1)


async def test_outbox_publishes_every_saved_order_after_the_crash(ws_settings):
    r = await crashdemo.run(ws_settings, "outbox", orders=5, crash_at=3)
    assert r.exit_signal == 9
    assert (r.saved, r.published, r.lost) == (3, 3, 0)
