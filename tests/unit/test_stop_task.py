"""Stopping a background task never waits forever, even on a task that swallows cancellation."""

import asyncio
import time

import pytest

from workshop.waiting import WaitTimeout, stop_task


async def test_cancel_ends_a_task_that_is_waiting():
    task = asyncio.create_task(asyncio.Event().wait())
    await asyncio.sleep(0)
    await stop_task(task)
    assert task.cancelled()


async def test_cancel_retries_a_task_that_swallows_one_cancellation():
    async def stubborn_once():
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            pass  # like redis-py retrying a command it was cancelled in
        await asyncio.Event().wait()

    task = asyncio.create_task(stubborn_once(), name="stubborn once")
    await asyncio.sleep(0)
    await stop_task(task, every=0.01)
    assert task.cancelled()


async def test_a_task_that_never_stops_is_one_line_within_the_timeout():
    async def immortal():
        while True:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(immortal(), name="immortal")
    await asyncio.sleep(0)
    start = time.monotonic()
    with pytest.raises(WaitTimeout, match="waited 0.2 s for 'immortal' to stop") as info:
        await stop_task(task, every=0.02, timeout=0.2)
    assert "\n" not in str(info.value)
    assert time.monotonic() - start < 2
    task.get_coro().close()  # test clean-up: end the coroutine for good


async def test_a_task_that_failed_is_raised_unless_told_otherwise():
    async def boom():
        raise ValueError("boom")

    task = asyncio.create_task(boom())
    await asyncio.wait({task})
    with pytest.raises(ValueError, match="boom"):
        await stop_task(task)
    await stop_task(task, raise_error=False)
