"""What every bus adapter promises: the contract shared by `memory` and `rabbitmq`.

A *bus* carries :class:`~workshop.events.Event` envelopes from publishers to
named subscriptions. Each subscription is a queue bound to one or more topic
patterns (``order.*``, ``payment.processed``, ``#``) and drained by a handler
``async def handler(event, delivery)``:

* the handler returns → the message is acknowledged (gone);
* the handler raises → the message is retried after a growing delay
  (:class:`RetryPolicy`), and after the last attempt it is **dead-lettered**;
* the body is not an event, or fails schema validation → dead-lettered at once
  (retrying cannot fix it), the consumer keeps running;
* the handler raises :class:`Reject` → dead-lettered at once (a permanent error).

Dead letters keep the reason in their headers (``x-dead-reason``, ``x-error``,
``x-attempts``) and can be inspected with ``await bus.dead_letters(name)``.

Publishing is **confirmed and never silently dropped**: ``publish`` returns once
the message is in a queue. A message that matches no subscription (its queue
does not exist yet) is *parked*, not lost: ``await bus.unrouted()`` shows it and
``await bus.replay_unrouted()`` publishes it again once the queue exists. (On
RabbitMQ a bare confirm would not be enough: the broker confirms an unroutable
message and drops it. See :mod:`workshop.bus.rabbitmq`.)
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from workshop.errors import WorkshopError
from workshop.events import Event, EventFormatError, SchemaError, Validator, validated

# --- delivery details handed to a handler ------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """How a message arrived: which key, from whom, which attempt."""

    routing_key: str
    source: str = ""  # the publishing service (AMQP app_id / CloudEvents ``source``)
    attempt: int = 1  # 1 for the first delivery, 2 for the first retry, ...
    redelivered: bool = False  # the broker says: delivered before but never acknowledged
    received_at: float = field(default_factory=time.time)


Handler = Callable[[Event, Delivery], Awaitable[None]]


class Reject(Exception):
    """Raise from a handler for a permanent failure: dead-letter now, do not retry."""


class Unroutable(WorkshopError):
    """The broker returned a message: no queue at all took it (not even the parking queue).

    ``keys`` holds the routing keys that found no queue; ``failed`` their indices in
    the batch given to ``publish_many`` (the others were delivered and confirmed).
    """

    def __init__(self, keys: Sequence[str], exchange: str, failed: Sequence[int] = (0,)) -> None:
        self.keys, self.exchange, self.failed = list(keys), exchange, list(failed)
        shown = ", ".join(repr(k) for k in dict.fromkeys(self.keys))
        super().__init__(
            f"unroutable: no queue is bound to {shown} on {exchange} "
            f"({len(self.keys)} message(s) returned, not delivered) — subscribe first"
        )


# --- retries ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff, then the dead-letter queue.

    ``max_attempts=4, initial_delay=0.1, factor=2`` waits 0.1 s, 0.2 s, 0.4 s
    between the four attempts, then dead-letters.
    """

    max_attempts: int = 4
    initial_delay: float = 0.1
    factor: float = 2.0
    max_delay: float = 10.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.initial_delay < 0 or self.factor < 1:
            raise ValueError("initial_delay must be >= 0 and factor >= 1")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return min(self.max_delay, self.initial_delay * self.factor ** (attempt - 1))

    def delays(self) -> list[float]:
        """Every wait between attempts: one fewer than ``max_attempts``."""
        return [self.delay(a) for a in range(1, self.max_attempts)]

    def next_step(self, attempt: int, error: BaseException) -> tuple[str, float | str]:
        """What to do after ``attempt`` failed with ``error``.

        ``("retry", delay_seconds)`` or ``("dead-letter", reason)``; reasons are
        ``malformed`` (not an event), ``invalid`` (schema), ``rejected``
        (:class:`Reject`), ``failed`` (out of attempts).
        """
        if isinstance(error, EventFormatError):
            return ("dead-letter", "invalid" if isinstance(error, SchemaError) else "malformed")
        if isinstance(error, Reject):
            return ("dead-letter", "rejected")
        if attempt >= self.max_attempts:
            return ("dead-letter", "failed")
        return ("retry", self.delay(attempt))


def decode(body: bytes | str, validate: Validator | None) -> Event:
    """What every consumer does first: parse the message, then check its schema.

    Raises :class:`~workshop.events.EventFormatError` for a malformed message and
    :class:`~workshop.events.SchemaError` for a well-formed one whose data does not
    fit its schema — the retry policy dead-letters both at once, with different reasons.
    """
    return validated(Event.from_json(body), validate)


# --- what you can see about a subscription ---------------------------------------------------


@dataclass
class SubscriptionStats:
    """Counters a learner can watch: nothing is ever silently dropped."""

    received: int = 0
    handled: int = 0
    retried: int = 0
    dead_lettered: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class DeadLetter:
    """A message parked in a dead-letter queue, with why it is there."""

    body: bytes
    reason: str
    error: str
    attempts: int
    routing_key: str
    headers: dict[str, Any]

    @property
    def event(self) -> Event | None:
        try:
            return Event.from_json(self.body)
        except EventFormatError:
            return None


def dead_letter_headers(
    reason: str, error: BaseException | str, attempts: int, routing_key: str, queue: str
) -> dict[str, Any]:
    """The headers every adapter puts on a dead letter."""
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return {
        "x-dead-reason": reason,
        "x-error": text[:500],
        "x-attempts": attempts,
        "x-original-routing-key": routing_key,
        "x-queue": queue,
    }


@runtime_checkable
class Subscription(Protocol):
    """What ``subscribe`` returns: its counters, and a way to stop consuming."""

    name: str
    stats: SubscriptionStats

    async def cancel(self, grace: float = 5.0) -> None:
        """Stop new deliveries, let handlers in flight finish (up to ``grace`` s)."""


@runtime_checkable
class Bus(Protocol):
    """The interface both adapters implement (see the module docstring).

    ``MemoryBus`` and ``RabbitBus`` satisfy it without inheriting from it; code that
    only needs *a* bus (a service, the outbox relay, a check) is typed with ``Bus``.
    Both take ``validate=`` (:data:`~workshop.events.Validator`), as the stores do.
    """

    validate: Validator | None

    async def publish(self, routing_key: str, event: Event, *, source: str = "") -> None:
        """Publish one event; returns once it is in a queue (RabbitMQ: confirmed, on disk) — a
        subscription's, or the parking queue of :meth:`unrouted` when no binding matched."""

    async def publish_many(self, items: Iterable[tuple[str, Event]], *, source: str = "") -> int:
        """Publish several events concurrently, waiting for all confirms.

        Raises :class:`Unroutable` (after the others were confirmed) naming those no queue took."""

    async def publish_raw(self, routing_key: str, body: bytes, *, source: str = "") -> None:
        """Publish bytes as they are (for poison-message demos)."""

    async def subscribe(
        self,
        name: str,
        patterns: Sequence[str],
        handler: Handler,
        *,
        prefetch: int = 10,
        retry: RetryPolicy | None = None,
        durable: bool = True,
    ) -> Subscription:
        """Start consuming queue ``name`` bound to ``patterns``."""

    async def dead_letters(self, name: str, limit: int = 100) -> list[DeadLetter]:
        """The dead letters of subscription ``name`` (left in place)."""

    async def unrouted(self, limit: int = 100) -> list[DeadLetter]:
        """Messages that matched no subscription when published (reason ``unrouted``), left in place."""

    async def replay_unrouted(self) -> int:
        """Publish the parked messages again (now that their queue may exist); returns how many."""

    async def close(self) -> None: ...
    async def __aenter__(self) -> Any: ...
    async def __aexit__(self, *exc: object) -> None: ...


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: ``*`` is exactly one word, ``#`` zero or more words.

    >>> topic_matches("order.*", "order.ordercreated"), topic_matches("#", "a.b.c")
    (True, True)
    >>> topic_matches("order.*", "order.a.b"), topic_matches("*.processed", "payment.processed")
    (False, True)
    """

    def match(p: list[str], k: list[str]) -> bool:
        if not p:
            return not k
        head, rest = p[0], p[1:]
        if head == "#":
            return any(match(rest, k[i:]) for i in range(len(k) + 1))
        return bool(k) and (head == "*" or head == k[0]) and match(rest, k[1:])

    return match(pattern.split("."), routing_key.split("."))
