"""Publish/subscribe buses with one contract: :mod:`~workshop.bus.memory` and :mod:`~workshop.bus.rabbitmq`.

    from workshop.bus import MemoryBus, RabbitBus, RetryPolicy
    bus = await RabbitBus.open(settings)            # or MemoryBus()
    await bus.subscribe("payment", ["order.ordercreated"], handler, prefetch=20)
    await bus.publish("order.ordercreated", event, source="order")

The contract (retries, dead letters with reasons, validation) is described in
:mod:`workshop.bus.base`; ``tests/bus_contract.py`` holds the tests that run
against both adapters. What differs is taught, not hidden: the memory
bus forgets everything when its process dies; RabbitMQ keeps persistent
messages in durable queues and redelivers whatever was not acknowledged.
"""

from workshop.bus.base import (
    Bus,
    DeadLetter,
    Delivery,
    Handler,
    Reject,
    RetryPolicy,
    Subscription,
    SubscriptionStats,
    Unroutable,
    topic_matches,
)
from workshop.bus.memory import MemoryBus
from workshop.config import Settings
from workshop.events import Validator

__all__ = [
    "Bus",
    "DeadLetter",
    "Delivery",
    "Handler",
    "MemoryBus",
    "RabbitBus",
    "Reject",
    "RetryPolicy",
    "Subscription",
    "SubscriptionStats",
    "Unroutable",
    "open_bus",
    "topic_matches",
]


def __getattr__(name: str):  # RabbitBus imports aio-pika only when asked for
    if name == "RabbitBus":
        from workshop.bus.rabbitmq import RabbitBus

        return RabbitBus
    raise AttributeError(name)


async def open_bus(
    kind: str = "rabbitmq", settings: Settings | None = None, *, validate: Validator | None = None
) -> Bus:
    """``"memory"`` or ``"rabbitmq"`` (connected, in ``settings``' namespace)."""
    if kind == "memory":
        return MemoryBus(validate=validate)
    if kind == "rabbitmq":
        from workshop.bus.rabbitmq import RabbitBus

        return await RabbitBus.open(settings, validate=validate)
    raise ValueError(f"unknown bus {kind!r}: choose 'memory' or 'rabbitmq'")
