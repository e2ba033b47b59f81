"""The bus contract (``tests/bus_contract.py``) on MemoryBus, and the pure parts of the bus."""

from __future__ import annotations

import pytest

from tests.bus_contract import BusContract
from workshop.bus import MemoryBus, Reject, RetryPolicy
from workshop.events import EventFormatError, SchemaError


class TestMemoryBus(BusContract):
    @pytest.fixture
    async def make_bus(self):
        buses = []

        async def make(validate=None):
            bus = MemoryBus(validate=validate)
            buses.append(bus)
            return bus

        yield make
        for bus in buses:
            await bus.close()


def test_retry_policy_delays_grow_and_are_capped():
    p = RetryPolicy(max_attempts=5, initial_delay=0.5, factor=3, max_delay=4)
    assert p.delays() == [0.5, 1.5, 4, 4]
    assert p.next_step(1, RuntimeError()) == ("retry", 0.5)
    assert p.next_step(5, RuntimeError()) == ("dead-letter", "failed")
    assert p.next_step(1, EventFormatError("x")) == ("dead-letter", "malformed")
    assert p.next_step(1, SchemaError("x")) == ("dead-letter", "invalid")
    assert p.next_step(1, Reject("x")) == ("dead-letter", "rejected")
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


@pytest.mark.parametrize(
    "pattern,key,expected",
    [
        ("order.*", "order.ordercreated", True),
        ("order.*", "order", False),
        ("order.*", "order.a.b", False),
        ("order.#", "order", True),
        ("order.#", "order.a.b", True),
        ("#", "x", True),
        ("*.processed", "payment.processed", True),
        ("#.processed", "a.b.processed", True),
        ("payment.processed", "payment.failed", False),
    ],
)
def test_topic_matching_like_rabbitmq(pattern, key, expected):
    from workshop.bus import topic_matches

    assert topic_matches(pattern, key) is expected
