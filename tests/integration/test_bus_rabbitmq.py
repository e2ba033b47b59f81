"""The bus contract against the real RabbitMQ, plus what only a broker can do."""

from __future__ import annotations

import asyncio

import pytest

from tests.bus_contract import BusContract, ev, wait_until
from workshop.bus.rabbitmq import RabbitBus


class TestRabbitBus(BusContract):
    @pytest.fixture
    async def make_bus(self, ws_settings):
        buses = []

        async def make(validate=None):
            bus = await RabbitBus.open(ws_settings, validate=validate)
            buses.append(bus)
            return bus

        yield make
        for bus in buses:
            await bus.close()


# --- what only the broker gives: messages outlive their consumers ---------------------------------


async def test_messages_wait_in_the_durable_queue_until_a_consumer_comes(ws_settings):
    async with await RabbitBus.open(ws_settings) as first:
        sub = await first.subscribe("later", ["order.*"], _ignore)
        await sub.cancel()  # the queue stays; nobody consumes
        await first.publish_many([("order.ordercreated", ev(i)) for i in range(5)])
    got = []

    async def collect(event, delivery):
        got.append(event.data["n"])

    async with await RabbitBus.open(ws_settings) as second:
        await second.subscribe("later", ["order.*"], collect, prefetch=1)
        await wait_until(lambda: len(got) == 5, what="5 messages published while nobody listened")
    assert got == [0, 1, 2, 3, 4]  # one consumer, prefetch 1: in order


async def test_a_message_whose_consumer_dies_before_acking_is_redelivered(ws_settings):
    started = []

    async def hang(event, delivery):
        started.append(event.event_id)
        await asyncio.sleep(3600)  # "crashes" before it can ack

    dying = await RabbitBus.open(ws_settings)
    await dying.subscribe("fragile", ["order.*"], hang)
    sent = ev(1)
    await dying.publish("order.ordercreated", sent)
    await wait_until(lambda: started, what="the first consumer to take the message")
    await dying.connection.close()  # the process is gone: its unacked message goes back to the queue

    seen = []

    async def survivor(event, delivery):
        seen.append((event.event_id, delivery.redelivered))

    async with await RabbitBus.open(ws_settings) as other:
        await other.subscribe("fragile", ["order.*"], survivor)
        await wait_until(lambda: seen, what="the redelivery")
    assert seen == [(sent.event_id, True)]


async def _ignore(event, delivery):
    pass
