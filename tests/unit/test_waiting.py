import asyncio

import pytest

from workshop.errors import WorkshopError
from workshop.waiting import WaitTimeout, until, within


async def test_returns_the_first_truthy_value_of_a_plain_or_async_probe():
    calls = []

    def probe():
        calls.append(1)
        return len(calls) if len(calls) >= 3 else None

    assert await until(probe, every=0.001) == 3

    async def aprobe():
        return ["done"]

    assert await until(aprobe) == ["done"]


async def test_gives_up_with_a_message_naming_what_never_happened():
    with pytest.raises(WaitTimeout, match=r"^waited 0.05 s for the reply, but it did not happen$"):
        await until(lambda: False, timeout=0.05, every=0.01, what="the reply")


async def test_the_detail_says_how_far_it_got():
    seen = [1, 2]
    with pytest.raises(WaitTimeout) as info:
        await until(
            lambda: len(seen) >= 3, timeout=0.03, every=0.01, what="3 events", detail=lambda: f"{len(seen)} of 3 seen"
        )
    assert str(info.value) == "waited 0.03 s for 3 events, but it did not happen: 2 of 3 seen"


async def test_a_timeout_is_a_one_line_workshop_error_and_still_a_timeout_error():
    with pytest.raises(WaitTimeout) as info:
        await until(lambda: False, timeout=0.01, what="x")
    assert isinstance(info.value, WorkshopError)  # Jupyter: one red line
    assert isinstance(info.value, TimeoutError)  # code that catches TimeoutError still does
    assert "\n" not in str(info.value)


async def test_within_returns_the_result_or_gives_up_naming_what():
    assert await within(asyncio.sleep(0, result=7), 1, what="a nap") == 7
    started = asyncio.get_running_loop().time()
    with pytest.raises(
        WaitTimeout, match=r"^waited 0.05 s for the child process to exit, but it did not happen$"
    ) as info:
        await within(asyncio.sleep(10), 0.05, what="the child process to exit")
    assert asyncio.get_running_loop().time() - started < 1
    assert info.value.__cause__ is None and info.value.__suppress_context__


async def test_within_leaves_the_awaited_codes_own_timeout_error_alone():
    async def gives_up_itself():
        raise TimeoutError("the server's own timeout")

    with pytest.raises(TimeoutError, match="the server's own timeout") as info:
        await within(gives_up_itself(), 5, what="the call")
    assert not isinstance(info.value, WaitTimeout)


# --- the package's waits go through until(): one line naming what never happened ---------------


async def test_order_system_wait_final_names_the_stragglers():
    from workshop.orders.system import OrderSystem

    system = OrderSystem()  # not started: statuses() is replaced below
    answers = [{"A": "paid"}, {"A": "shipped", "B": "reserved"}]

    async def statuses(ids):
        return answers.pop(0) if len(answers) > 1 else answers[0]

    system.statuses = statuses
    with pytest.raises(WaitTimeout) as info:
        await system.wait_final(["A", "B", "C"], timeout=0.1)
    assert str(info.value) == (
        "waited 0.1 s for 3 order(s) to be shipped or cancelled, but it did not happen: "
        "2 still open, e.g. {'B': 'reserved', 'C': 'missing'}"
    )
    answers[:] = [{"A": "shipped", "B": "cancelled"}]
    assert await system.wait_final(["A", "B"], timeout=1) == {"A": "shipped", "B": "cancelled"}


async def test_tap_waits_on_the_memory_bus():
    from workshop.bus.memory import MemoryBus
    from workshop.events import Event
    from workshop.viz.timeline import Tap

    bus = MemoryBus()
    tap = await Tap.start(bus)
    try:
        await bus.publish("order.ordercreated", Event("OrderCreated", "ORD-1", {}), source="order")
        await tap.wait_for(1, timeout=2)
        with pytest.raises(
            WaitTimeout,
            match=r"^waited 0.1 s for the tap to see 2 events, but it did not happen: "
            r"it saw 1$",
        ):
            await tap.wait_for(2, timeout=0.1)
        assert await tap.wait_idle(quiet=0.1, timeout=2) == 1

        async def keep_publishing():
            for i in range(60):
                await bus.publish("order.ordercreated", Event("OrderCreated", f"ORD-{i}", {}), source="order")
                await asyncio.sleep(0.01)

        busy = asyncio.create_task(keep_publishing())
        with pytest.raises(
            WaitTimeout,
            match=r"for 0.2 s without a new event, but it did not happen: events were "
            r"still arriving",
        ):
            await tap.wait_idle(quiet=0.2, timeout=0.2)
        await busy
    finally:
        await tap.stop()
        await bus.close()
