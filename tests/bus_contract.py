"""One contract, every bus: :class:`BusContract` runs against MemoryBus in
``tests/unit/test_bus_contract.py`` and against RabbitBus in
``tests/integration/test_bus_rabbitmq.py``.

A test module subclasses :class:`BusContract` and provides an async fixture
``make_bus(validate=None) -> bus``.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from workshop.bus import Bus, Reject, RetryPolicy
from workshop.events import Event, EventFormatError, SchemaError

FAST = RetryPolicy(max_attempts=3, initial_delay=0.05, factor=2.0)


async def wait_until(predicate, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


def ev(n: int = 1, event_type: str = "OrderCreated") -> Event:
    return Event(event_type, f"ORD-{n}", {"n": n})


def only_positive(event: Event) -> None:
    if event.data.get("n", 0) < 0:
        raise EventFormatError(f"{event.event_type}: 'n' must be >= 0")


class BusContract:
    """Subclasses provide an async fixture ``make_bus(validate=None) -> bus``."""

    async def test_the_adapter_is_a_bus(self, make_bus):
        bus = await make_bus(validate=only_positive)
        assert isinstance(bus, Bus)
        assert bus.validate is only_positive

    async def test_topic_patterns_route_copies_to_each_matching_subscription(self, make_bus):
        bus = await make_bus()
        got: dict[str, list[str]] = {"orders": [], "all": [], "payments": []}

        def collect(name):
            async def handler(event, delivery):
                got[name].append(delivery.routing_key)

            return handler

        await bus.subscribe("orders", ["order.*"], collect("orders"))
        await bus.subscribe("all", ["#"], collect("all"))
        await bus.subscribe("payments", ["payment.processed"], collect("payments"))
        await bus.publish("order.ordercreated", ev(1), source="order")
        await bus.publish("payment.processed", ev(2, "PaymentProcessed"), source="payment")
        await bus.publish("order.line.added", ev(3), source="order")  # two words after order: not order.*
        await wait_until(lambda: len(got["all"]) == 3, what="3 messages on '#'")
        await asyncio.sleep(0.1)
        assert got["orders"] == ["order.ordercreated"]
        assert got["payments"] == ["payment.processed"]
        assert sorted(got["all"]) == ["order.line.added", "order.ordercreated", "payment.processed"]

    async def test_a_message_no_subscription_takes_is_parked_not_dropped_and_can_be_replayed(self, make_bus):
        bus = await make_bus()
        got = []

        async def handler(event, delivery):
            got.append((delivery.routing_key, event.data["n"]))

        await bus.publish("order.ordercreated", ev(1))  # nobody subscribed yet: confirmed, and parked
        await bus.publish_many([("payment.processed", ev(2, "PaymentProcessed"))])
        parked = await bus.unrouted()
        assert [(d.routing_key, d.reason, d.event.data["n"]) for d in parked] == [
            ("order.ordercreated", "unrouted", 1),
            ("payment.processed", "unrouted", 2),
        ]
        assert len(await bus.unrouted()) == 2  # peeking leaves them in place

        await bus.subscribe("orders", ["order.*"], handler)
        assert await bus.replay_unrouted() == 2
        await wait_until(lambda: got, what="the replayed order event")
        await asyncio.sleep(0.1)
        assert got == [("order.ordercreated", 1)]
        assert [d.routing_key for d in await bus.unrouted()] == ["payment.processed"]  # still nobody's: parked again

    async def test_handler_sees_the_event_and_who_sent_it(self, make_bus):
        bus = await make_bus()
        seen = []

        async def handler(event, delivery):
            seen.append((event, delivery))

        await bus.subscribe("s", ["order.*"], handler)
        original = ev(7)
        await bus.publish("order.ordercreated", original, source="order")
        await wait_until(lambda: seen, what="delivery")
        event, delivery = seen[0]
        assert event == original
        assert (delivery.source, delivery.routing_key, delivery.attempt) == ("order", "order.ordercreated", 1)

    async def test_failing_handler_is_retried_with_growing_delays_then_succeeds(self, make_bus):
        bus = await make_bus()
        attempts: list[tuple[int, float]] = []

        async def flaky(event, delivery):
            attempts.append((delivery.attempt, time.monotonic()))
            if delivery.attempt < 3:
                raise RuntimeError("payment gateway timeout")

        sub = await bus.subscribe("flaky", ["order.*"], flaky, retry=FAST)
        await bus.publish("order.ordercreated", ev())
        await wait_until(lambda: sub.stats.handled == 1, what="success on the third attempt")
        assert [a for a, _ in attempts] == [1, 2, 3]
        gaps = [b - a for (_, a), (_, b) in zip(attempts, attempts[1:])]
        assert gaps[0] >= 0.04 and gaps[1] >= 0.08, gaps  # 0.05 s then 0.1 s (backoff), with slack
        assert (sub.stats.retried, sub.stats.dead_lettered) == (2, 0)
        assert await bus.dead_letters("flaky") == []

    async def test_out_of_attempts_goes_to_the_dlq_with_the_reason_and_the_consumer_lives_on(self, make_bus):
        bus = await make_bus()
        handled = []

        async def handler(event, delivery):
            if event.data["n"] == 1:
                raise ValueError("card declined by a bug")
            handled.append(event.data["n"])

        sub = await bus.subscribe("h", ["order.*"], handler, retry=FAST)
        await bus.publish("order.ordercreated", ev(1))
        await bus.publish("order.ordercreated", ev(2))
        await wait_until(lambda: sub.stats.dead_lettered == 1 and handled == [2], what="one dead letter")
        [dead] = await wait_dead(bus, "h", 1)
        assert dead.reason == "failed"
        assert dead.attempts == FAST.max_attempts
        assert "ValueError: card declined by a bug" in dead.error
        assert dead.routing_key == "order.ordercreated"
        assert dead.event is not None and dead.event.data == {"n": 1}
        await bus.publish("order.ordercreated", ev(3))
        await wait_until(lambda: handled == [2, 3], what="the consumer to keep going")

    async def test_malformed_body_is_dead_lettered_at_once(self, make_bus):
        bus = await make_bus()
        calls = []

        async def handler(event, delivery):
            calls.append(event)

        sub = await bus.subscribe("m", ["order.*"], handler, retry=FAST)
        await bus.publish_raw("order.ordercreated", b"{not json")
        await bus.publish_raw("order.ordercreated", b'{"event_type": "OrderCreated"}')  # fields missing
        await bus.publish("order.ordercreated", ev(5))
        await wait_until(lambda: sub.stats.dead_lettered == 2 and len(calls) == 1, what="2 dead letters")
        dead = await wait_dead(bus, "m", 2)
        assert [d.reason for d in dead] == ["malformed", "malformed"]
        assert [d.attempts for d in dead] == [1, 1]  # no retries: retrying cannot fix a bad body
        assert sub.stats.retried == 0
        assert "not valid JSON" in dead[0].error and "missing field" in dead[1].error

    async def test_schema_validation_on_publish_and_on_consume(self, make_bus):
        bus = await make_bus(validate=only_positive)
        ok = []

        async def handler(event, delivery):
            ok.append(event.data["n"])

        sub = await bus.subscribe("v", ["order.*"], handler, retry=FAST)
        with pytest.raises(SchemaError, match="must be >= 0"):  # the validator's message, as a SchemaError
            await bus.publish("order.ordercreated", ev(-1))
        # a producer that skips validation (another team, an old version) still cannot get past the consumer
        await bus.publish_raw("order.ordercreated", ev(-2).to_json().encode())
        await bus.publish("order.ordercreated", ev(4))
        await wait_until(lambda: sub.stats.dead_lettered == 1 and ok == [4], what="invalid event dead-lettered")
        [dead] = await wait_dead(bus, "v", 1)
        assert dead.reason == "invalid" and "must be >= 0" in dead.error

    async def test_reject_dead_letters_without_retrying(self, make_bus):
        bus = await make_bus()

        async def handler(event, delivery):
            raise Reject("unknown customer")

        sub = await bus.subscribe("r", ["order.*"], handler, retry=FAST)
        await bus.publish("order.ordercreated", ev())
        await wait_until(lambda: sub.stats.dead_lettered == 1, what="rejected message")
        [dead] = await wait_dead(bus, "r", 1)
        assert (dead.reason, dead.attempts, sub.stats.retried) == ("rejected", 1, 0)

    @pytest.mark.parametrize("prefetch", [1, 4])
    async def test_prefetch_bounds_handlers_in_flight(self, make_bus, prefetch):
        bus = await make_bus()
        in_flight, peak, done = 0, 0, []

        async def slow(event, delivery):
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.03)
            in_flight -= 1
            done.append(event.data["n"])

        await bus.subscribe("p", ["order.*"], slow, prefetch=prefetch)
        await bus.publish_many([("order.ordercreated", ev(i)) for i in range(12)])
        await wait_until(lambda: len(done) == 12, what="12 slow messages")
        assert peak == prefetch


async def wait_dead(bus, name: str, n: int, timeout: float = 10.0):
    """Dead letters may take a moment to be readable (RabbitMQ: a confirmed publish to the DLQ)."""
    deadline = time.monotonic() + timeout
    while True:
        dead = await bus.dead_letters(name)
        if len(dead) >= n or time.monotonic() > deadline:
            assert len(dead) == n, f"expected {n} dead letters in {name!r}, found {len(dead)}"
            return dead
        await asyncio.sleep(0.05)
