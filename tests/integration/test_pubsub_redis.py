"""Chapter 2 on the real Redis: fan-out, confirmed subscriptions, counted losses, bad input."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
import redis

from workshop.errors import ServiceUnavailable
from workshop.pubsub import Publisher, Subscriber, course
from workshop.pubsub.publisher import user_action
from workshop.pubsub.timeline import losses, lost_events
from workshop.waiting import until


async def test_every_subscriber_gets_every_message_on_both_channels(ws_settings):
    pub = await Publisher.open(ws_settings)
    one = await Subscriber.start(ws_settings, channels=["user_events", "system_events"], name="one")
    two = await Subscriber.start(ws_settings, channels=["user_events", "system_events"], name="two")
    try:
        receivers = [
            await pub.publish("user_events", user_action(1)),
            await pub.publish("system_events", user_action(2)),
        ]
        assert receivers == [2, 2]  # confirmed subscriptions: both are registered before we publish
        await until(lambda: len(one.events) == 2 and len(two.events) == 2, what="both deliveries to both")
        assert [e.data["seq"] for e in one.events] == [e.data["seq"] for e in two.events] == [1, 2]
        assert one.stats.by_channel == {"user_events": 1, "system_events": 1}
    finally:
        await asyncio.gather(one.stop(), two.stop(), pub.close())


async def test_pattern_subscription_matches_by_glob(ws_settings):
    pub = await Publisher.open(ws_settings)
    got = []
    sub = await Subscriber.start(ws_settings, patterns=["*_events"], handler=lambda ch, e: got.append(ch))
    try:
        for channel in ("user_events", "system_events", "audit"):
            await pub.publish(channel, user_action(0))
        await until(lambda: len(got) == 2, what="two pattern deliveries")
        await asyncio.sleep(0.1)
        assert sorted(got) == ["system_events", "user_events"]
    finally:
        await asyncio.gather(sub.stop(), pub.close())


async def test_a_subscriber_not_yet_subscribed_misses_messages_silently(ws_settings):
    pub = await Publisher.open(ws_settings)
    starting = asyncio.create_task(Subscriber.start(ws_settings, channels=["user_events"]))
    early = await pub.publish("user_events", user_action(1))  # the subscriber is still connecting
    sub = await starting
    try:
        late = await pub.publish("user_events", user_action(2))
        await until(lambda: len(sub.events) == 1, what="the second event")
        await asyncio.sleep(0.1)
        assert (early, late) == (0, 1)
        assert [e.data["seq"] for e in sub.events] == [2]
        assert pub.unheard == 1
    finally:
        await asyncio.gather(sub.stop(), pub.close())


async def test_an_offline_subscriber_loses_what_was_published_meanwhile_counted(ws_settings):
    pub = await Publisher.open(ws_settings)
    steady = await Subscriber.start(ws_settings, channels=["user_events"], name="steady")
    flaky = await Subscriber.start(ws_settings, channels=["user_events"], name="flaky")
    try:
        for i in range(5):
            await pub.publish("user_events", user_action(i))
        await flaky.pause()
        for i in range(5, 12):
            await pub.publish("user_events", user_action(i))
        await flaky.resume()
        for i in range(12, 15):
            await pub.publish("user_events", user_action(i))
        await until(lambda: len(steady.events) == 15 and len(flaky.events) == 8, what="all deliveries")
        counts = losses(pub.history, {"steady": steady.received, "flaky": flaky.received})
        assert counts == {
            "steady": {"published": 15, "received": 15, "lost": 0},
            "flaky": {"published": 15, "received": 8, "lost": 7},
        }
        assert [e.data["seq"] for e in lost_events(pub.history, flaky.received)] == list(range(5, 12))
        [(start, end)] = flaky.offline
        assert end is not None and end > start
    finally:
        await asyncio.gather(steady.stop(), flaky.stop(), pub.close())


async def test_bad_messages_are_counted_logged_once_and_skipped(ws_settings):
    pub = await Publisher.open(ws_settings)
    lines: list[str] = []

    def picky(channel, event):
        if event.data.get("seq") == 3:
            raise ValueError("cannot handle 3")

    sub = await Subscriber.start(ws_settings, channels=["user_events"], handler=picky, log_line=lines.append)
    try:
        await pub.publish_raw("user_events", "not json at all")
        await pub.publish_raw("user_events", '{"type": "user_action", "user_id": 123}')  # the course's shape
        await pub.publish_raw("user_events", "[1, 2]")
        await pub.publish("user_events", user_action(3))
        await pub.publish("user_events", user_action(4))
        await until(lambda: sub.stats.received == 5, what="five messages")
        assert (sub.stats.bad, sub.stats.failed, sub.stats.handled) == (3, 1, 1)
        assert len(lines) == 4 and all("\n" not in line for line in lines)
        assert "not valid JSON" in lines[0] and "missing field" in lines[1] and "ValueError" in lines[3]
    finally:
        await asyncio.gather(sub.stop(), pub.close())


def test_the_course_subscriber_dies_on_one_bad_message_and_misses_the_rest(ws_settings):
    r = redis.Redis.from_url(ws_settings.redis_url, decode_responses=True, socket_timeout=5)
    channels = (ws_settings.namespace.key("user_events"), ws_settings.namespace.key("system_events"))
    printed: list[str] = []
    try:
        thread = course.start_subscriber(ws_settings.redis_url, channels, printed)
        for _ in range(3):
            course.publish_event(r, channels[0], course.course_event())
        r.publish(channels[0], "oops")
        thread.join(5)
        for _ in range(3):
            course.publish_event(r, channels[1], course.course_event())
        assert not thread.is_alive()
        assert type(thread.error).__name__ == "JSONDecodeError"
        assert sum(line.startswith("Received event") for line in printed) == 3
    finally:
        r.close()


async def test_redis_down_is_one_line_naming_it(ws_settings):
    down = replace(ws_settings, redis_url="redis://127.0.0.1:1/0")
    with pytest.raises(ServiceUnavailable) as caught:
        await Subscriber.start(down, channels=["user_events"])
    message = str(caught.value)
    assert "Redis is not reachable at redis://127.0.0.1:1/0" in message and "\n" not in message
    with pytest.raises(ServiceUnavailable):
        await Publisher.open(down)
