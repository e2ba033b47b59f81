"""Publish events to Redis channels — the course's ``publisher.py`` on redis-py's asyncio client.

    pub = await Publisher.open(s)
    receivers = await pub.publish("user_events", user_action(1))   # how many subscribers got it
    await pub.publish_many([("user_events", e) for e in events])    # one pipeline, one round trip
    await pub.close()

What changed from the course: messages are the workshop's :class:`~workshop.events.Event`
(with an ``event_id``), channels carry the namespace, one long-lived asyncio client, and
``PUBLISH``'s answer — the number of subscribers that received the message — is returned
instead of thrown away: ``0`` means nobody heard it, and nobody ever will.

As a process (what the compose service ``publisher`` runs; :mod:`workshop.run.pubsub`)::

    python -m workshop.run.pubsub publisher --interval 5          # the course's loop, forever
    python -m workshop.run.pubsub publisher --count 10 --interval 0.1
    python -m workshop.run.pubsub publisher --wait-subscribers 2   # first wait until two are listening
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from workshop import connect
from workshop.config import Namespace, Settings, settings
from workshop.events import Event
from workshop.pubsub.subscriber import KEEP
from workshop.waiting import until

CHANNELS = ("user_events", "system_events")  # the course's two channels


def user_action(seq: int, user_id: int = 123, action: str = "click") -> Event:
    """The course's event as a workshop Event; ``seq`` numbers it so losses can be counted."""
    return Event("user_action", f"user-{user_id}", {"user_id": user_id, "action": action, "seq": seq})


class Publisher:
    """One asyncio Redis client that publishes events to namespaced channels."""

    def __init__(self, redis: Any, namespace: Namespace) -> None:
        self.redis, self.namespace = redis, namespace
        self.sent = 0
        self.unheard = 0  # messages that reached no subscriber at all
        # (publish time, channel, event, receivers) of the latest events, for the timeline: as many
        # as a Subscriber's delivery log keeps, so the two are compared over the same stretch
        self.history: deque[tuple[float, str, Event, int]] = deque(maxlen=KEEP)

    @classmethod
    async def open(cls, s: Settings | None = None) -> Publisher:
        s = s or settings()
        return cls(await connect.redis(s), s.namespace)

    def channel(self, name: str) -> str:
        """``user_events`` → ``ws_alice_ch02:user_events``."""
        return self.namespace.key(name)

    async def publish(self, channel: str, event: Event) -> int:
        """Publish one event; returns how many subscribers received it."""
        receivers = await self.publish_raw(channel, event.to_json())
        self.history.append((time.monotonic(), channel, event, receivers))
        return receivers

    async def publish_raw(self, channel: str, payload: str | bytes) -> int:
        """Publish any payload (the notebook uses it to send a bad message)."""
        receivers = await self.redis.publish(self.channel(channel), payload)
        self._count([receivers])
        return receivers

    async def publish_many(self, items: Iterable[tuple[str, Event]]) -> list[int]:
        """Publish many events in one pipeline (one round trip); returns each one's receivers."""
        items = list(items)
        pipe = self.redis.pipeline(transaction=False)
        keys: dict[str, str] = {}  # each channel's full name, made once per batch, not once per event
        for channel, event in items:
            key = keys.get(channel) or keys.setdefault(channel, self.channel(channel))
            pipe.publish(key, event.to_json())
        receivers = await pipe.execute()
        self._count(receivers)
        now = time.monotonic()
        kept = self.history.maxlen or 0  # only the last ones are kept: don't build entries for the rest
        self.history.extend((now, c, e, n) for (c, e), n in zip(items[-kept:], receivers[-kept:]))
        return receivers

    def _count(self, receivers: list[int]) -> None:
        self.sent += len(receivers)
        self.unheard += receivers.count(0)

    async def close(self) -> None:
        await self.redis.aclose()

    async def __aenter__(self) -> Publisher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def wait_for_subscribers(pub: Publisher, channel: str, n: int, timeout: float) -> None:
    """Wait until ``n`` clients subscribe to ``channel`` (``PUBSUB NUMSUB``), so nothing is published to nobody."""

    async def enough() -> bool:
        [(_, count)] = await pub.redis.pubsub_numsub(pub.channel(channel))
        return count >= n

    await until(enough, timeout=timeout, every=0.1, what=f"{n} subscriber(s) on {pub.channel(channel)}")


async def publish_loop(pub: Publisher, channel: str, interval: float, count: int, stop: asyncio.Event) -> int:
    """The course's ``while True`` loop: an event every ``interval`` s until ``stop`` (or ``count`` sent)."""
    print(f"publisher: publishing to {pub.channel(channel)} every {interval:g} s", flush=True)
    seq = 0
    while not stop.is_set() and (count == 0 or seq < count):
        seq += 1
        receivers = await pub.publish(channel, user_action(seq))
        print(f"publisher: #{seq} reached {receivers} subscriber(s)", flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
    return pub.sent
