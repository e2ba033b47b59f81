"""Redis Streams with a consumer group on the real Redis: nothing lost across a restart or a crash."""

from __future__ import annotations

import asyncio

from workshop.pubsub.publisher import user_action
from workshop.pubsub.streams import GroupConsumer, append
from workshop.waiting import until


async def test_zero_loss_across_a_consumer_restart(ws_settings):
    seen: list[int] = []
    c = await GroupConsumer.open(
        ws_settings, group="analytics", consumer="c1", handler=lambda e: seen.append(e.data["seq"])
    )
    key = c.key
    for i in range(5):
        await append(c.redis, key, user_action(i))
    c.start(block_ms=50)
    await until(lambda: len(seen) == 5, what="the first five")
    await c.close()  # the consumer goes away ...
    writer = await GroupConsumer.open(ws_settings, group="unused", consumer="w")
    for i in range(5, 12):  # ... while the producer carries on
        await append(writer.redis, key, user_action(i))
    back = await GroupConsumer.open(
        ws_settings, group="analytics", consumer="c1", handler=lambda e: seen.append(e.data["seq"])
    )
    try:
        while await back.poll():
            pass
        assert seen == list(range(12))  # every event, once, in order
        assert (await back.pending())["pending"] == 0
    finally:
        await asyncio.gather(back.close(), writer.close())


async def test_a_crashed_consumers_pending_entries_are_reclaimed_with_xautoclaim(ws_settings):
    stuck = asyncio.Event()
    crasher = await GroupConsumer.open(
        ws_settings, group="g", consumer="crasher", handler=lambda e: stuck.wait(), claim_idle_ms=None
    )
    seen: list[int] = []
    rescuer = await GroupConsumer.open(
        ws_settings, group="g", consumer="rescuer", handler=lambda e: seen.append(e.data["seq"]), claim_idle_ms=1000
    )
    try:
        for i in range(6):
            await append(crasher.redis, crasher.key, user_action(i))
        crasher.start()

        async def handed_out() -> bool:
            return (await rescuer.pending())["pending"] == 6

        await until(handed_out, what="six entries handed to the crasher")
        await crasher.crash()  # dies mid-handler: nothing acknowledged
        assert await rescuer.pending() == {"pending": 6, "consumers": {"crasher": 6}}
        assert await rescuer.reclaim() == 0  # not idle for claim_idle_ms (1 s) yet
        reclaimed = 0

        async def all_reclaimed() -> bool:  # once they have been idle long enough, all six
            nonlocal reclaimed
            reclaimed += await rescuer.reclaim()
            return reclaimed >= 6

        await until(all_reclaimed, timeout=10, every=0.05, what="the rescuer to reclaim the six idle entries")
        assert reclaimed == 6
        assert sorted(seen) == list(range(6)) and rescuer.stats.reclaimed == 6
        assert (await rescuer.pending())["pending"] == 0
    finally:
        stuck.set()
        await asyncio.gather(crasher.close(), rescuer.close())


async def test_an_entry_that_keeps_failing_goes_to_the_dead_letter_stream(ws_settings):
    def fail_on_odd(event):
        if event.data["seq"] % 2:
            raise RuntimeError(f"cannot handle {event.data['seq']}")

    lines: list[str] = []
    c = await GroupConsumer.open(
        ws_settings,
        group="g",
        consumer="c",
        handler=fail_on_odd,
        claim_idle_ms=0,
        max_deliveries=3,
        log_line=lines.append,
    )
    try:
        for i in range(4):
            await append(c.redis, c.key, user_action(i))
        await c.redis.xadd(c.key, {"event": "not json"})
        for _ in range(4):
            await c.poll()
        dead = await c.dead_letters()
        assert sorted((d["reason"], d["deliveries"]) for d in dead) == [
            ("failed", "3"),
            ("failed", "3"),
            ("malformed", "1"),
        ]
        assert all(d["consumer"] == "c" and d["error"] for d in dead)
        assert c.stats.handled == 2 and c.stats.dead_lettered == 3 and c.stats.bad == 1
        assert (await c.pending())["pending"] == 0
        assert all("\n" not in line for line in lines)
    finally:
        await c.close()


async def test_maxlen_keeps_a_stream_bounded(ws_settings):
    c = await GroupConsumer.open(ws_settings, group="g", consumer="c")
    try:
        for i in range(50):
            await append(c.redis, c.key, user_action(i), maxlen=10, approximate=False)
        assert await c.redis.xlen(c.key) == 10
        first_kept = (await c.redis.xrange(c.key, count=1))[0][0]
        newest = (await c.redis.xrevrange(c.key, count=3))[-1][0]
        assert await c.redis.xtrim(c.key, minid=newest, approximate=False) == 7  # MINID: drop entries older than an id
        assert first_kept < newest and await c.redis.xlen(c.key) == 3
    finally:
        await c.close()
