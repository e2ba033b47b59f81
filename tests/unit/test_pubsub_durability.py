"""The wait before the crash in chapter 2's durability experiment, against fake INFO replies."""

from __future__ import annotations

import pytest


async def test_a_buffer_that_is_never_written_is_one_clear_line():
    from workshop.pubsub.durability import written
    from workshop.waiting import WaitTimeout

    class StuckDisk:
        async def info(self, section):
            return {"aof_enabled": 1, "aof_buffer_length": 512}

    with pytest.raises(WaitTimeout, match="AOF buffer to the file.*512 bytes still held back"):
        await written(StuckDisk(), timeout=0.2)


async def test_without_the_aof_nothing_is_held_back():
    from workshop.pubsub.durability import unwritten

    class NoAof:
        async def info(self, section):
            return {"aof_enabled": 0}

    assert await unwritten(NoAof()) == 0
