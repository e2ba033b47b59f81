"""The subscriber's delivery log and its handlers, without Redis: messages as redis-py hands them over."""

from __future__ import annotations

import asyncio
import gc
import json
from types import SimpleNamespace

import pytest

from workshop.config import Namespace
from workshop.events import Event
from workshop.pubsub.publisher import user_action
from workshop.pubsub.subscriber import DeliveryLog, Subscriber

NS = Namespace("ws_test")


def _subscriber(handler=None, keep: int = 1000) -> Subscriber:
    return Subscriber(SimpleNamespace(pubsub=lambda: None), NS, channels=["user_events"], handler=handler, keep=keep)


def _message(text: str, channel: str = "user_events") -> dict:
    return {"type": "message", "pattern": None, "channel": NS.key(channel), "data": text}


def _deliver(sub: Subscriber, *texts: str) -> None:
    async def run() -> None:
        for text in texts:
            await sub.dispatch(_message(text))

    asyncio.run(run())


def test_the_log_gives_back_the_events_delivered_with_channel_and_arrival_order():
    sub = _subscriber()
    events = [user_action(i) for i in range(3)]
    _deliver(sub, *(e.to_json() for e in events))
    kept = list(sub.received)
    assert [e for _, _, e in kept] == events == sub.events
    assert [channel for _, channel, _ in kept] == ["user_events"] * 3
    assert [t for t, _, _ in kept] == sorted(t for t, _, _ in kept)
    assert len(sub.received) == 3


def test_the_log_keeps_only_the_latest():
    sub = _subscriber(keep=2)
    events = [user_action(i) for i in range(5)]
    _deliver(sub, *(e.to_json() for e in events))
    assert sub.events == events[-2:] and sub.stats.received == 5
    sub.received.clear()
    assert len(sub.received) == 0 and sub.events == []


def test_a_course_format_message_reads_back_as_the_same_event_every_time():
    # the course's five fields: no event_id, so one is made up on arrival — reading the log twice
    # must not make up another (losses() counts by event_id)
    course = json.dumps(
        {"event_type": "user_action", "aggregate_id": "user-1", "data": {}, "timestamp": None, "version": 1}
    )
    sub = _subscriber()
    _deliver(sub, course)
    first, second = sub.events, sub.events
    assert len(first) == 1 and first == second and first[0].event_id


def test_the_log_holds_nothing_the_garbage_collector_walks():
    log = DeliveryLog(10)
    event = user_action(1)
    log.add("user_events", event.to_json())
    gc.collect()  # a tuple of a float and two strings is untracked by the first pass that sees it
    assert not any(gc.is_tracked(entry) for entry in log._kept)


@pytest.mark.parametrize("kind", ["plain", "async"])
def test_a_handler_that_raises_is_counted_and_the_next_message_still_handled(kind):
    seen: list[int] = []

    def plain(channel: str, event: Event) -> None:
        if event.data["seq"] == 0:
            raise ValueError("boom")
        seen.append(event.data["seq"])

    async def later(channel: str, event: Event) -> None:
        await asyncio.sleep(0)
        plain(channel, event)

    problems: list[str] = []
    sub = _subscriber(handler=plain if kind == "plain" else later)
    sub.log_line = problems.append
    _deliver(sub, user_action(0).to_json(), user_action(1).to_json())
    assert seen == [1]
    assert (sub.stats.received, sub.stats.handled, sub.stats.failed) == (2, 1, 1)
    assert problems == ["subscriber: handler failed on user_action from user_events: ValueError: boom"]


def test_a_bad_message_is_counted_and_not_logged_as_a_delivery():
    problems: list[str] = []
    sub = _subscriber()
    sub.log_line = problems.append
    _deliver(sub, "not json", user_action(1).to_json())
    assert (sub.stats.received, sub.stats.bad, sub.stats.handled) == (2, 1, 1)
    assert len(sub.received) == 1 and len(problems) == 1 and "bad message on user_events" in problems[0]
