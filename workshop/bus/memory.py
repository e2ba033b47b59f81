"""An in-process bus with RabbitMQ's semantics, for fast tests and first experiments.

Same contract as :mod:`workshop.bus.rabbitmq` — topic patterns, one queue per
subscription, ``prefetch`` handlers in flight, retries with backoff, a
dead-letter list with reasons — but everything lives in this Python process:
when the process dies, every message in flight is gone. That difference is
the point of chapter 1's "kill a consumer" experiment.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from workshop.bus.base import (
    DeadLetter,
    Delivery,
    Handler,
    RetryPolicy,
    SubscriptionStats,
    dead_letter_headers,
    decode,
    topic_matches,
)
from workshop.events import Event, Validator, validated
from workshop.waiting import stop_task


@dataclass
class _Message:
    routing_key: str
    body: bytes
    source: str = ""
    attempt: int = 1


@dataclass
class MemorySubscription:
    name: str
    patterns: tuple[str, ...]
    handler: Handler
    retry: RetryPolicy
    validate: Validator | None
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    stats: SubscriptionStats = field(default_factory=SubscriptionStats)
    dead: list[DeadLetter] = field(default_factory=list)
    tasks: list[asyncio.Task] = field(default_factory=list)
    _bus: MemoryBus | None = None

    in_flight: int = 0

    async def _work(self) -> None:
        while True:
            msg: _Message = await self.queue.get()
            self.in_flight += 1
            try:
                await self._deliver(msg)
            finally:
                self.in_flight -= 1
                self.queue.task_done()

    async def _deliver(self, msg: _Message) -> None:
        self.stats.received += 1
        try:
            event = decode(msg.body, self.validate)
            await self.handler(event, Delivery(msg.routing_key, msg.source, msg.attempt))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is routed, none is lost
            step, arg = self.retry.next_step(msg.attempt, exc)
            if step == "retry":
                self.stats.retried += 1
                assert self._bus is not None
                self._bus._later(float(arg), self, _Message(msg.routing_key, msg.body, msg.source, msg.attempt + 1))
            else:
                self.stats.dead_lettered += 1
                headers = dead_letter_headers(str(arg), exc, msg.attempt, msg.routing_key, self.name)
                self.dead.append(
                    DeadLetter(msg.body, str(arg), headers["x-error"], msg.attempt, msg.routing_key, headers)
                )
        else:
            self.stats.handled += 1

    async def cancel(self, grace: float = 5.0) -> None:
        """Let handlers in flight finish (up to ``grace`` s), then stop the workers."""
        deadline = asyncio.get_running_loop().time() + grace
        while self.in_flight and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        for t in self.tasks:
            await stop_task(t)
        self.tasks.clear()
        if self._bus:
            self._bus._subs.pop(self.name, None)


class MemoryBus:
    """A topic exchange in a dictionary. ``validate`` checks events on publish and consume."""

    def __init__(self, validate: Validator | None = None) -> None:
        self.validate = validate
        self._subs: dict[str, MemorySubscription] = {}
        self._unrouted: list[_Message] = []
        self._timers: set[asyncio.Task] = set()

    async def publish(self, routing_key: str, event: Event, *, source: str = "") -> None:
        validated(event, self.validate)
        await self.publish_raw(routing_key, event.to_json().encode(), source=source)

    async def publish_many(self, items: Iterable[tuple[str, Event]], *, source: str = "") -> int:
        n = 0
        for key, event in items:
            await self.publish(key, event, source=source)
            n += 1
        return n

    async def publish_raw(self, routing_key: str, body: bytes, *, source: str = "") -> None:
        msg = _Message(routing_key, bytes(body), source)
        if not self._route(msg):
            self._unrouted.append(msg)  # what RabbitMQ's alternate exchange does: park it, visibly

    def _route(self, msg: _Message) -> bool:
        """Put a copy in every matching subscription's queue; False when none matched."""
        routed = False
        for sub in list(self._subs.values()):
            if any(topic_matches(p, msg.routing_key) for p in sub.patterns):
                sub.queue.put_nowait(_Message(msg.routing_key, msg.body, msg.source))  # a copy each
                routed = True
        return routed

    async def unrouted(self, limit: int = 100) -> list[DeadLetter]:
        return [
            DeadLetter(m.body, "unrouted", "no binding matched", 0, m.routing_key, {}) for m in self._unrouted[:limit]
        ]

    async def replay_unrouted(self) -> int:
        parked, self._unrouted = self._unrouted, []
        for msg in parked:
            if not self._route(msg):
                self._unrouted.append(msg)
        return len(parked)

    async def subscribe(
        self,
        name: str,
        patterns: Sequence[str],
        handler: Handler,
        *,
        prefetch: int = 10,
        retry: RetryPolicy | None = None,
        durable: bool = True,
    ) -> MemorySubscription:
        if name in self._subs:
            raise ValueError(f"subscription {name!r} already exists on this bus")
        sub = MemorySubscription(name, tuple(patterns), handler, retry or RetryPolicy(), self.validate, _bus=self)
        sub.tasks = [asyncio.create_task(sub._work(), name=f"bus:{name}:{i}") for i in range(max(1, prefetch))]
        self._subs[name] = sub
        return sub

    async def dead_letters(self, name: str, limit: int = 100) -> list[DeadLetter]:
        sub = self._subs.get(name)
        return list(sub.dead[:limit]) if sub else []

    def _later(self, delay: float, sub: MemorySubscription, msg: _Message) -> None:
        async def requeue() -> None:
            await asyncio.sleep(delay)
            sub.queue.put_nowait(msg)

        task = asyncio.create_task(requeue())
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    async def close(self) -> None:
        for t in list(self._timers):
            t.cancel()
        for sub in list(self._subs.values()):
            await sub.cancel()

    async def __aenter__(self) -> MemoryBus:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
