"""Subscribe to Redis channels and patterns — the course's ``subscriber.py``, made robust.

    sub = await Subscriber.start(s, channels=["user_events", "system_events"], handler=on_event)
    ...                                  # returns only once Redis has CONFIRMED every subscription
    await sub.pause(); await sub.resume()  # offline for a while: pub/sub keeps nothing for you
    await sub.stop()

``handler(channel, event)`` may be a plain function or ``async def``; ``channel`` is the name
without the namespace. Patterns use Redis glob syntax: ``patterns=["*_events"]``.

What changed from the course:

* **confirmed subscriptions** — ``SUBSCRIBE`` returns before Redis has registered it; a
  message published in between reaches nobody. :meth:`start` waits for Redis's
  confirmation of every channel and pattern, so "started" means "will receive";
* **bad messages do not kill it** — a message that is not JSON or not an event is
  counted in ``stats.bad``, logged as one line, and skipped; so is a handler that raises
  (``stats.failed``);
* the last deliveries are kept in ``received`` (arrival time, channel, event: a
  :class:`DeliveryLog`) so the notebook can draw who got what, and the offline windows in
  ``offline``.

As a process (what the compose services ``subscriber-1`` and ``subscriber-2`` run)::

    python -m workshop.run.pubsub subscriber --name subscriber-1     # workshop.run.pubsub
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError

from workshop import connect
from workshop.config import Namespace, Settings, settings
from workshop.events import Event, EventFormatError
from workshop.waiting import stop_task, until

log = logging.getLogger("workshop.pubsub")
KEEP = 1_000  # deliveries a delivery log keeps (Subscriber.received, GroupConsumer.handled)

Handler = Callable[[str, Event], Awaitable[None] | None]


def decode(text: str | bytes) -> tuple[Event, str]:
    """A delivery's event, and the JSON to log for it; :class:`EventFormatError` when it is none.

    The JSON is ``text`` itself when it is what ``Event.to_json()`` writes; anything else (say the
    course's five fields, whose ``event_id`` is made up on arrival) is logged as the event's own
    JSON, so that reading the log gives back this very event, every time.
    """
    event = Event.from_wire(text)  # the common case: one pydantic pass
    if event is not None:
        return event, text if isinstance(text, str) else text.decode()
    event = Event.from_json(text)  # the full checks: accepted as before, or refused with why
    return event, event.to_json()


class DeliveryLog:
    """The last ``keep`` deliveries, oldest first: ``(arrival time, where, event)`` when iterated.

    Chapter 2's timeline reads it (``where`` is the channel, or a Streams entry id). A log that
    runs all day keeps only the latest (a ``deque`` with ``maxlen``), and it keeps each one as
    the **JSON text that arrived**, decoded again when read: a tuple of a float and two strings
    is nothing the garbage collector has to walk, where a kept ``Event`` is objects that each of
    its passes walks, while they live. Measured in chapter 6's benchmark: keeping events cost 4%
    of a delivery's CPU; keeping their text costs as much as keeping nothing.
    """

    def __init__(self, keep: int = KEEP) -> None:
        self._kept: deque[tuple[float, str, str]] = deque(maxlen=keep)

    def add(self, where: str, text: str) -> None:
        """Log a delivery, now: ``text`` is its event as :func:`decode` gave it back."""
        self._kept.append((time.monotonic(), where, text))

    def __iter__(self) -> Iterator[tuple[float, str, Event]]:
        return ((at, where, Event.from_json(text)) for at, where, text in self._kept)

    def __len__(self) -> int:
        return len(self._kept)

    def clear(self) -> None:
        self._kept.clear()


@dataclass
class SubscriberStats:
    received: int = 0  # messages that arrived (good or bad)
    handled: int = 0  # events the handler processed without raising
    bad: int = 0  # not JSON / not an event: counted, logged, skipped
    failed: int = 0  # the handler raised: counted, logged, skipped (pub/sub cannot redeliver)
    disconnects: int = 0  # the connection dropped (e.g. Redis closed a slow subscriber)
    by_channel: Counter = field(default_factory=Counter)


class Subscriber:
    """A pub/sub subscriber with confirmed subscriptions and a delivery log."""

    def __init__(
        self,
        redis: Any,
        namespace: Namespace,
        channels: Iterable[str] = (),
        patterns: Iterable[str] = (),
        handler: Handler | None = None,
        name: str = "subscriber",
        log_line: Callable[[str], Any] | None = None,
        keep: int = KEEP,
    ) -> None:
        self.redis, self.namespace, self.name = redis, namespace, name
        self.channels, self.patterns = list(channels), list(patterns)
        if not (self.channels or self.patterns):
            raise ValueError("a subscriber needs at least one channel or pattern")
        self.handler = handler
        self.log_line = log_line or log.warning
        self.stats = SubscriberStats()
        self.received = DeliveryLog(keep)  # the last ``keep`` deliveries, for chapter 2's timeline
        self.offline: list[tuple[float, float | None]] = []
        self.problems: list[str] = []
        self._pubsub = redis.pubsub()
        self._prefix = namespace.name + ":"  # what a channel's full name starts with
        self._active: set[str] = set()
        self._task: asyncio.Task | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    @classmethod
    async def start(
        cls,
        s: Settings | None = None,
        *,
        channels: Iterable[str] = (),
        patterns: Iterable[str] = (),
        handler: Handler | None = None,
        name: str = "subscriber",
        log_line: Callable[[str], Any] | None = None,
        timeout: float = 5.0,
    ) -> Subscriber:
        """Connect, subscribe, and return once Redis has confirmed every subscription."""
        s = s or settings()
        sub = cls(await connect.redis(s), s.namespace, channels, patterns, handler, name, log_line)
        sub._task = asyncio.create_task(sub._read(), name=f"{name} reader")
        try:
            await sub._subscribe(timeout)
        except BaseException:
            await sub.stop()
            raise
        return sub

    async def _subscribe(self, timeout: float) -> None:
        if self.channels:
            await self._pubsub.subscribe(*map(self.namespace.key, self.channels))
        if self.patterns:
            await self._pubsub.psubscribe(*map(self.namespace.key, self.patterns))
        wanted = {self.namespace.key(c) for c in self.channels + self.patterns}
        await until(
            lambda: self._active == wanted, timeout=timeout, what=f"Redis to confirm {self.name}'s subscriptions"
        )

    async def pause(self, timeout: float = 5.0) -> None:
        """Go offline (unsubscribe everything). Messages published meanwhile are gone for good."""
        if self.channels:
            await self._pubsub.unsubscribe()
        if self.patterns:
            await self._pubsub.punsubscribe()
        await until(lambda: not self._active, timeout=timeout, what=f"{self.name} to unsubscribe")
        self.offline.append((time.monotonic(), None))

    async def resume(self, timeout: float = 5.0) -> None:
        """Come back online: subscribe again and wait for the confirmations."""
        await self._subscribe(timeout)
        if self.offline and self.offline[-1][1] is None:
            self.offline[-1] = (self.offline[-1][0], time.monotonic())

    async def stop(self) -> None:
        if self._task is not None:
            await stop_task(self._task, raise_error=False)
            self._task = None
        await self._pubsub.aclose()
        await self.redis.aclose()

    async def __aenter__(self) -> Subscriber:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def events(self) -> list[Event]:
        return [event for _, _, event in self.received]

    # --- reading ---------------------------------------------------------------------------

    async def _read(self) -> None:
        while True:
            if not self._pubsub.subscribed:
                await asyncio.sleep(0.01)  # between pause() and resume(): nothing to read
                continue
            try:
                # a blocking read, as the course's ``pubsub.listen()`` does: a read with a timeout
                # runs every message through a timeout context — 1.2-1.4x the CPU of a blocking read
                # (chapter 6). pause() and stop() need no timeout: the unsubscribe confirmations wake
                # this read, and stop() cancels it; a dropped connection raises at once
                message = await self._pubsub.get_message(timeout=None)
            except RedisConnectionError as exc:
                # redis-py reconnects and subscribes again by itself; what was published
                # in between is gone, and nothing says which messages those were
                self.stats.disconnects += 1
                self._active.clear()
                self._problem(
                    f"{self.name}: connection lost ({exc}); subscribing again — messages published meanwhile are lost"
                )
                await asyncio.sleep(0.05)
                continue
            if message is not None:
                pending = self._take(message)
                if pending is not None:  # an async handler's coroutine
                    await pending

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Handle one message from redis-py's pubsub (confirmations included)."""
        pending = self._take(message)
        if pending is not None:
            await pending

    def _take(self, message: dict[str, Any]) -> Awaitable[None] | None:
        """Everything a message needs that does not wait; returns what is left to await, if anything
        (an ``async def`` handler). A plain handler, or none, costs no coroutine per message."""
        kind = message["type"]
        if kind != "message" and kind != "pmessage":  # the rare case first, so a delivery costs one test
            if kind in ("subscribe", "psubscribe"):
                self._active.add(message["channel"])
            elif kind in ("unsubscribe", "punsubscribe"):
                self._active.discard(message["channel"])
            return None
        channel = message["channel"].removeprefix(self._prefix)
        self.stats.received += 1
        self.stats.by_channel[channel] += 1
        try:
            event, text = decode(message["data"])
        except EventFormatError as exc:
            self.stats.bad += 1
            self._problem(f"{self.name}: skipped a bad message on {channel}: {exc}")
            return None
        self.received.add(channel, text)
        if self.handler is None:
            self.stats.handled += 1
            return None
        try:
            result = self.handler(channel, event)
        except Exception as exc:
            self._failed(channel, event, exc)
            return None
        if result is not None and inspect.isawaitable(result):  # a plain handler returns None: no check
            return self._finish(channel, event, result)
        self.stats.handled += 1
        return None

    async def _finish(self, channel: str, event: Event, result: Awaitable[Any]) -> None:
        try:
            await result
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failed(channel, event, exc)
        else:
            self.stats.handled += 1

    def _failed(self, channel: str, event: Event, exc: Exception) -> None:
        self.stats.failed += 1
        self._problem(f"{self.name}: handler failed on {event.event_type} from {channel}: {type(exc).__name__}: {exc}")

    def _problem(self, line: str) -> None:
        self.problems.append(line)
        self.log_line(line)


def print_event(name: str) -> Handler:
    """The course's handler: print each event (and "user … performed …" for a user_action)."""

    def show(channel: str, event: Event) -> None:
        print(f"{name}: {channel} {event.event_type} {event.data}", flush=True)
        if event.event_type == "user_action":  # the course's "process event"
            print(f"{name}: user {event.data.get('user_id')} performed {event.data.get('action')}", flush=True)

    return show
