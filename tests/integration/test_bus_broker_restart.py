"""RabbitMQ stopped and started during a run: no confirmed message is lost.

DISRUPTIVE: this stops the shared broker for ~2 s (``rabbitmqctl stop_app``),
which other tests running at the same moment will notice. It is kept short,
and ``start_app`` runs in ``finally`` so the broker is always back.
Skip it with ``-k "not broker_restart"`` (both tests' names contain it).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import aiormq
import pytest

from tests.bus_contract import wait_until
from workshop.bus.rabbitmq import RabbitBus
from workshop.events import Event

# what a publish raises while the broker is away: the connection or channel is gone (AMQP errors,
# "channel invalid state", a reset socket) or the confirm never came (the publish timeout)
BROKER_AWAY = (
    aiormq.exceptions.AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,
    ConnectionError,
    asyncio.TimeoutError,
)


@pytest.fixture(autouse=True)
def _needs_rabbitmqctl():
    if not shutil.which("rabbitmqctl"):
        pytest.fail("this test restarts the local broker with rabbitmqctl, which is not on PATH")


def rabbitmqctl(*args: str, timeout: float = 60) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=timeout)


async def restart_broker(pause: float = 1.0) -> None:
    try:
        await asyncio.to_thread(rabbitmqctl, "stop_app")
        await asyncio.sleep(pause)
    finally:
        await asyncio.to_thread(rabbitmqctl, "start_app")
        await asyncio.to_thread(rabbitmqctl, "await_startup")


@pytest.mark.timeout(180)
async def test_no_confirmed_message_is_lost_across_a_broker_restart(ws_settings):
    consumer = await RabbitBus.open(ws_settings)
    publisher = await RabbitBus.open(ws_settings)
    received: set[str] = set()

    async def handler(event, delivery):
        received.add(event.event_id)

    await consumer.subscribe("durable", ["order.*"], handler, prefetch=50)
    confirmed: list[str] = []
    failures = 0
    restart: asyncio.Task | None = None
    try:
        for n in range(1500):
            event = Event("OrderCreated", f"ORD-{n}", {"n": n})
            for _ in range(300):  # bounded: ~30 s of retrying per message at most
                try:
                    await publisher.publish("order.ordercreated", event)
                    confirmed.append(event.event_id)  # only now do we count it as sent
                    break
                except BROKER_AWAY:  # not confirmed, try again (a bug, e.g. a SchemaError, is not retried)
                    failures += 1
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("could not publish for 30 s after the broker came back")
            if n == 300:
                restart = asyncio.create_task(restart_broker())
        assert restart is not None
        await asyncio.wait_for(restart, 90)
        assert failures > 0, "the restart did not interrupt publishing: the test proved nothing"
        await wait_until(
            lambda: set(confirmed) <= received,
            timeout=60,
            what=f"all confirmed messages (missing {len(set(confirmed) - received)})",
        )
        assert len(confirmed) == 1500
    finally:
        if restart is not None and not restart.done():
            await asyncio.wait_for(restart, 90)
        await publisher.close()
        await consumer.close()


@pytest.mark.timeout(180)
async def test_the_order_system_reconnects_after_a_broker_restart(ws_settings):
    from workshop.orders.system import OrderSystem

    book = [{"sku": "BOOK", "qty": 1, "price": 10}]
    async with OrderSystem(ws_settings) as system:
        before = await system.place_order("alice", book)
        assert await system.wait_final([before]) == {before: "shipped"}
        await restart_broker()
        # placed while the services are still reconnecting: the outbox keeps it until a confirm
        after = await system.place_order("bob", book)
        assert await system.wait_final([after], timeout=60) == {after: "shipped"}
