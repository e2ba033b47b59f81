"""The bus on RabbitMQ (aio-pika), with the course's best practices done for real.

Topology for a namespace ``ns`` and a subscription ``payment``::

    ns.events               topic exchange, durable: every publisher sends here
    ns.payment              durable queue bound with the subscription's patterns
    ns.payment.retry.1..N   delay queues: x-message-ttl = backoff delay, and
                            x-dead-letter-exchange "" → back to ns.payment only
    ns.dlx                  direct exchange for dead letters
    ns.payment.dlq          durable queue bound to ns.dlx with key "payment"
    ns.unrouted             ns.events' alternate exchange (fanout) and its queue: every
                            message that matched no binding is parked here

* **One long-lived connection and channel** (the course opens one per publish).
* **Persistent messages + publisher confirms**: ``await publish(...)`` returns
  when RabbitMQ has put the message in a durable queue and written it to disk;
  ``publish_many`` keeps many confirms in flight at once.
* **Nothing unroutable is dropped.** A confirm alone does not say "a queue has
  it": RabbitMQ confirms a message that matches no binding too — and drops it.
  Two fixes exist: publish ``mandatory`` (the broker sends the message back with
  ``basic.return`` before the confirm: the publisher hears about it), or give the
  exchange an **alternate exchange** that catches what no binding takes. This
  bus does both: ``ns.events`` has the alternate exchange ``ns.unrouted``, so an
  event published before its subscriber's queue exists is parked, visible with
  ``await bus.unrouted()`` and sent again with ``await bus.replay_unrouted()``
  once the queue is there; and every publish is mandatory, so if even the
  parking queue is missing, ``publish`` raises :class:`~workshop.bus.base.Unroutable`.
  (``ns.unrouted`` keeps the newest ``UNROUTED_MAX`` messages.)
* **Manual acks and a prefetch**: a message is acknowledged only after its
  handler returned, and at most ``prefetch`` are in flight per consumer.
* **Retries with backoff** via TTL delay queues, one per attempt. Why not a
  single queue with per-message TTL? RabbitMQ expires messages only at the head
  of a queue, so a 10 s message would hold back a 0.1 s one. Why not a quorum
  queue's ``x-delivery-limit``? It redelivers immediately, with no backoff.
* **On a cluster** (chapter 7): ``connect(s, urls=[...], queue_type="quorum", delivery_limit=5)``
  connects to the first node that answers and fails over to the next when it dies
  (:mod:`workshop.bus.failover`); every queue it declares (main, delay, dead-letter, unrouted) is
  then a replicated quorum queue, and ``x-delivery-limit`` dead-letters a message whose consumer
  died ``delivery_limit`` times while handling it — the poison message that never reaches the
  ``except`` below.
* **Dead letters with a reason**: the adapter republishes the message to the
  DLX with ``x-dead-reason``/``x-error`` headers, then acks the original. The
  main queue also names the DLX, so anything the broker itself rejects lands
  in the same DLQ.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from workshop import connect
from workshop.bus.base import (
    DeadLetter,
    Delivery,
    Handler,
    RetryPolicy,
    SubscriptionStats,
    Unroutable,
    dead_letter_headers,
    decode,
)
from workshop.config import Settings
from workshop.config import settings as load_settings
from workshop.events import Event, Validator, validated

PUBLISH_TIMEOUT = 10.0  # seconds to wait for one publisher confirm
UNROUTED_MAX = 10_000  # messages kept in ns.unrouted (the oldest go first)


# CloudEvents attributes map onto AMQP 0-9-1's own message properties (cheaper than
# custom headers, which every consumer would have to decode): id → message_id,
# type → type, source → app_id, time → timestamp, datacontenttype → content_type.
# The envelope in the body carries them too, plus subject (aggregate_id) and schema_version.
CLOUDEVENTS_PROPERTIES = {
    "id": "message_id",
    "type": "type",
    "source": "app_id",
    "time": "timestamp",
    "datacontenttype": "content_type",
}


async def _ack(message: AbstractIncomingMessage) -> None:
    """Ack; if the channel died meanwhile (broker restart), RabbitMQ redelivers the message anyway."""
    try:
        await message.ack()
    except (aio_pika.exceptions.ChannelInvalidStateError, aio_pika.exceptions.AMQPError, ConnectionError):
        pass  # at-least-once: the redelivery meets the consumer's inbox


def events_arguments(s: Settings) -> dict[str, Any]:
    """``ns.events``' arguments: whoever declares it must pass the same (RabbitMQ refuses a mismatch)."""
    return {"alternate-exchange": s.namespace.amqp("unrouted")}


def _queue_arguments(queue_type: str, delivery_limit: int | None = None) -> dict[str, Any]:
    """Extra arguments of every queue a bus declares: the queue type (and, for the main queue, the delivery limit)."""
    if queue_type == "classic":
        return {}
    return {"x-queue-type": queue_type, **({"x-delivery-limit": delivery_limit} if delivery_limit else {})}


async def _declare_events(channel: AbstractChannel, s: Settings) -> AbstractExchange:
    """The topic exchange every publisher sends to, with ``ns.unrouted`` as its alternate exchange."""
    return await channel.declare_exchange(
        s.namespace.amqp("events"), aio_pika.ExchangeType.TOPIC, durable=True, arguments=events_arguments(s)
    )


@dataclass
class RabbitSubscription:
    name: str
    queue: AbstractQueue
    stats: SubscriptionStats = field(default_factory=SubscriptionStats)
    consumer_tag: str | None = None
    channel: AbstractChannel | None = None
    durable: bool = True
    in_flight: int = 0

    async def cancel(self, grace: float = 5.0) -> None:
        """Stop new deliveries, let handlers in flight finish (and ack), then close the channel."""
        if self.consumer_tag and self.channel and not self.channel.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.queue.cancel(self.consumer_tag), 5)
        deadline = asyncio.get_running_loop().time() + grace
        while self.in_flight and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        if self.channel and not self.channel.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.channel.close(), 5)
        self.consumer_tag = None


class RabbitBus:
    """A bus on one RabbitMQ connection. Create with ``await RabbitBus.open(settings)``."""

    def __init__(
        self,
        connection: AbstractRobustConnection,
        channel: AbstractChannel,
        exchange: AbstractExchange,
        dlx: AbstractExchange,
        s: Settings,
        validate: Validator | None = None,
        *,
        queue_type: str = "classic",
        delivery_limit: int | None = None,
    ) -> None:
        self.connection, self.channel, self.exchange, self.dlx = connection, channel, exchange, dlx
        self.settings, self.ns, self.validate = s, s.namespace, validate
        self.queue_type, self.delivery_limit = queue_type, delivery_limit
        self._replacing = False
        self.subscriptions: dict[str, RabbitSubscription] = {}

    @classmethod
    async def open(
        cls,
        s: Settings | None = None,
        *,
        validate: Validator | None = None,
        reconnect_interval: float = 1.0,
        urls: Sequence[str] | None = None,
        queue_type: str = "classic",
        delivery_limit: int | None = None,
    ) -> RabbitBus:
        """``urls``: a cluster's nodes (instead of ``s.amqp_url``); see the module docstring."""
        s = s or load_settings()
        if queue_type not in ("classic", "quorum"):
            raise ValueError(f"queue_type must be 'classic' or 'quorum', not {queue_type!r}")
        # robust: after a broker restart it reconnects, re-declares queues and resumes consuming
        if urls:
            from workshop.bus.failover import connect_failover

            connection: AbstractRobustConnection = await connect_failover(urls, reconnect_interval=reconnect_interval)
        else:
            connection = await connect.amqp(s, reconnect_interval=reconnect_interval)
        # publisher confirms are on by default; a returned (unroutable) mandatory publish raises
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        parking = await channel.declare_exchange(
            s.namespace.amqp("unrouted"), aio_pika.ExchangeType.FANOUT, durable=True
        )
        parked = await channel.declare_queue(
            s.namespace.amqp("unrouted"),
            durable=True,
            arguments={"x-max-length": UNROUTED_MAX, **_queue_arguments(queue_type)},
        )
        await parked.bind(parking)
        exchange = await _declare_events(channel, s)
        dlx = await channel.declare_exchange(s.namespace.amqp("dlx"), aio_pika.ExchangeType.DIRECT, durable=True)
        return cls(
            connection, channel, exchange, dlx, s, validate, queue_type=queue_type, delivery_limit=delivery_limit
        )

    # --- publishing -------------------------------------------------------------------
    def _message(
        self, body: bytes, *, source: str, event: Event | None = None, headers: dict[str, Any] | None = None
    ) -> aio_pika.Message:
        return aio_pika.Message(
            body,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            content_type="application/json",
            app_id=source or None,
            message_id=event.event_id if event else None,
            correlation_id=event.correlation_id if event else None,
            type=event.event_type if event else None,
            timestamp=event.when if event else datetime.now(UTC),  # CloudEvents "time"
            headers=headers or None,
        )

    async def publish(self, routing_key: str, event: Event, *, source: str = "") -> None:
        validated(event, self.validate)
        await self._send(self._message(event.to_json().encode(), source=source, event=event), routing_key)

    async def publish_many(self, items: Iterable[tuple[str, Event]], *, source: str = "", window: int = 256) -> int:
        """Publish concurrently, up to ``window`` confirms in flight.

        ``window`` workers share one iterator: each publishes the next item as soon as its
        previous confirm is in. (Not one task per item held back by a semaphore: that costs
        a task, a waiter and a wake-up per message — a third of a publish's CPU here.)

        Raises :class:`Unroutable` naming the messages no queue took, once every other one
        is confirmed (so a caller such as the outbox relay knows exactly what was delivered),
        or the first other error.
        """
        items = list(items)
        errors: dict[int, Exception] = {}
        todo = iter(enumerate(items))

        async def worker() -> None:
            for i, (key, event) in todo:
                try:
                    await self.publish(key, event, source=source)
                except Exception as exc:  # noqa: BLE001 - kept per item; raised below once all are done
                    errors[i] = exc

        await asyncio.gather(*(worker() for _ in range(min(window, len(items)))))
        for i in sorted(errors):
            if not isinstance(errors[i], Unroutable):
                raise errors[i]
        if errors:
            failed = sorted(errors)
            raise Unroutable([items[i][0] for i in failed], self.exchange.name, failed)
        return len(items)

    async def publish_raw(self, routing_key: str, body: bytes, *, source: str = "") -> None:
        await self._send(self._message(body, source=source), routing_key)

    async def _send(self, message: aio_pika.Message, routing_key: str) -> None:
        """Publish mandatory and wait for the confirm; a ``basic.return`` before it → :class:`Unroutable`."""
        exchange = self.exchange
        try:
            await exchange.publish(message, routing_key, mandatory=True, timeout=PUBLISH_TIMEOUT)
        except aio_pika.exceptions.PublishError as exc:
            raise Unroutable([routing_key], self.exchange.name) from exc
        except aio_pika.exceptions.DeliveryError:  # a nack: RabbitMQ did not take it, the caller publishes again
            await self._replace_publisher(exchange)
            raise

    async def _replace_publisher(self, failed: AbstractExchange) -> None:
        """After a nack, publish on a new channel.

        On a cluster (RabbitMQ 3.10), a channel that published to a quorum queue while the
        queue's leader was changing can go on nacking every later publish; a new channel
        works at once. Only the first failed publish replaces it; the others just retry.
        """
        if failed is not self.exchange or self._replacing:
            return
        self._replacing = True
        try:
            old = self.channel
            self.channel = await self.connection.channel(publisher_confirms=True, on_return_raises=True)
            self.exchange = await _declare_events(self.channel, self.settings)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(old.close(), 5)
        finally:
            self._replacing = False

    # --- consuming --------------------------------------------------------------------
    async def subscribe(
        self,
        name: str,
        patterns: Sequence[str],
        handler: Handler,
        *,
        prefetch: int = 10,
        retry: RetryPolicy | None = None,
        durable: bool = True,
    ) -> RabbitSubscription:
        retry = retry or RetryPolicy()
        if self.queue_type == "quorum" and not durable:
            raise ValueError("quorum queues are always durable: subscribe with durable=True")
        qname = self.ns.amqp(name)
        channel = await self.connection.channel()  # one channel per consumer: its own prefetch
        await channel.set_qos(prefetch_count=prefetch)
        exchange = await _declare_events(channel, self.settings)
        dlx = await channel.declare_exchange(self.ns.amqp("dlx"), aio_pika.ExchangeType.DIRECT, durable=True)
        dlq = await channel.declare_queue(
            self.ns.amqp(name, "dlq"),
            durable=durable,
            auto_delete=not durable,
            arguments=_queue_arguments(self.queue_type) or None,
        )
        await dlq.bind(dlx, routing_key=name)
        queue = await channel.declare_queue(
            qname,
            durable=durable,
            auto_delete=not durable,
            arguments={
                "x-dead-letter-exchange": dlx.name,
                "x-dead-letter-routing-key": name,
                **_queue_arguments(self.queue_type, self.delivery_limit),
            },
        )
        for pattern in patterns:
            await queue.bind(exchange, routing_key=pattern)
        for attempt, delay in enumerate(retry.delays(), 1):
            await channel.declare_queue(
                self.ns.amqp(name, "retry", str(attempt)),
                durable=durable,
                auto_delete=False,
                arguments={
                    "x-message-ttl": max(1, int(delay * 1000)),
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": qname,
                    **_queue_arguments(self.queue_type),
                },
            )
        sub = RabbitSubscription(name, queue, channel=channel, durable=durable)
        # one coroutine per delivery, no wrapper around it: this is the consume hot path. (A partial of
        # the plain function, not of the bound method: aio-pika checks it is a coroutine function on
        # every delivery, and a plain function answers that at once.)
        on_message = functools.partial(RabbitBus._on_message, self, sub, handler=handler, retry=retry, channel=channel)
        sub.consumer_tag = await queue.consume(on_message, no_ack=False)
        self.subscriptions[name] = sub
        return sub

    async def _on_message(
        self,
        sub: RabbitSubscription,
        message: AbstractIncomingMessage,
        *,
        handler: Handler,
        retry: RetryPolicy,
        channel: AbstractChannel,
    ) -> None:
        sub.stats.received += 1
        sub.in_flight += 1
        try:
            headers = message.headers
            if headers:  # a retried message carries its attempt and original key
                attempt = int(headers.get("x-attempt", 1))  # type: ignore[arg-type]
                key = str(headers.get("x-original-routing-key") or message.routing_key or "")
            else:
                headers, attempt, key = {}, 1, message.routing_key or ""
            try:
                event = decode(message.body, self.validate)
                await handler(event, Delivery(key, message.app_id or "", attempt, bool(message.redelivered)))
            except asyncio.CancelledError:
                raise  # the consumer is stopping: no ack, RabbitMQ will redeliver
            except Exception as exc:  # noqa: BLE001 - every failure goes to a retry queue or the DLQ
                step, arg = retry.next_step(attempt, exc)
                out = aio_pika.Message(
                    message.body,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    content_type=message.content_type,
                    app_id=message.app_id,
                    message_id=message.message_id,
                    type=message.type,
                    headers={**headers, "x-attempt": attempt + 1, "x-original-routing-key": key},
                )
                default = channel.default_exchange
                if step == "retry":
                    await default.publish(out, self.ns.amqp(sub.name, "retry", str(attempt)), timeout=PUBLISH_TIMEOUT)
                    sub.stats.retried += 1
                else:
                    out.headers.update(dead_letter_headers(str(arg), exc, attempt, key, sub.name))
                    dlx = await channel.get_exchange(self.ns.amqp("dlx"), ensure=False)
                    await dlx.publish(out, sub.name, timeout=PUBLISH_TIMEOUT)
                    sub.stats.dead_lettered += 1
                await _ack(message)
            else:
                await _ack(message)
                sub.stats.handled += 1
        finally:
            sub.in_flight -= 1

    async def dead_letters(self, name: str, limit: int = 100) -> list[DeadLetter]:
        """Peek at a DLQ: fetch without acking on a throw-away channel, whose close puts them back."""
        channel = await self.connection.channel()
        out: list[DeadLetter] = []
        try:
            queue = await channel.get_queue(self.ns.amqp(name, "dlq"), ensure=True)
            for _ in range(limit):
                msg = await queue.get(no_ack=False, fail=False, timeout=5)
                if msg is None:
                    break
                h = dict(msg.headers or {})
                out.append(
                    DeadLetter(
                        msg.body,
                        str(h.get("x-dead-reason", "rejected by broker")),
                        str(h.get("x-error", "")),
                        int(h.get("x-attempts", 0) or 0),  # type: ignore[arg-type]
                        str(h.get("x-original-routing-key", msg.routing_key or "")),
                        h,
                    )
                )
        finally:
            with contextlib.suppress(Exception):
                await channel.close()
        return out

    async def unrouted(self, limit: int = 100) -> list[DeadLetter]:
        """Peek at the messages no binding took (reason ``unrouted``), oldest first, left in place."""
        channel = await self.connection.channel()
        out: list[DeadLetter] = []
        try:
            queue = await channel.get_queue(self.ns.amqp("unrouted"), ensure=True)
            for _ in range(limit):
                msg = await queue.get(no_ack=False, fail=False, timeout=5)
                if msg is None:
                    break
                out.append(
                    DeadLetter(
                        msg.body, "unrouted", "no binding matched", 0, msg.routing_key or "", dict(msg.headers or {})
                    )
                )
        finally:
            with contextlib.suppress(Exception):
                await channel.close()
        return out

    async def replay_unrouted(self) -> int:
        """Publish the parked messages again, with their routing keys; returns how many were replayed.

        Each is taken off ``ns.unrouted`` only after its new publish is confirmed; one that
        still matches no binding is parked again (at the back).
        """
        channel = await self.connection.channel()
        routed = 0
        try:
            queue = await channel.declare_queue(self.ns.amqp("unrouted"), passive=True)
            waiting = queue.declaration_result.message_count or 0
            for _ in range(waiting):
                msg = await queue.get(no_ack=False, fail=False, timeout=5)
                if msg is None:
                    break
                again = aio_pika.Message(
                    msg.body,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    content_type=msg.content_type,
                    app_id=msg.app_id,
                    message_id=msg.message_id,
                    correlation_id=msg.correlation_id,
                    type=msg.type,
                    timestamp=msg.timestamp,
                    headers=msg.headers or None,
                )
                await self._send(again, msg.routing_key or "")
                await msg.ack()
                routed += 1
        finally:
            with contextlib.suppress(Exception):
                await channel.close()
        return routed

    async def close(self) -> None:
        for sub in list(self.subscriptions.values()):
            await sub.cancel()
        self.subscriptions.clear()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.connection.close(), 5)

    async def __aenter__(self) -> RabbitBus:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
