"""Redis under Sentinel: the link drops, the master is SIGKILLed under XADD load; count what was lost."""

from __future__ import annotations

import shutil

import pytest

from workshop.replicas.procs import leftovers
from workshop.replicas.sentinel import SentinelGroup, consume_while_master_dies, kill_master_under_load

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(shutil.which("redis-sentinel") is None, reason="redis-sentinel not installed"),
]


async def test_without_wait_acknowledged_entries_are_lost():
    async with SentinelGroup() as group:
        assert 6379 not in group.ports.values()
        result = await kill_master_under_load(group, wait=False, warmup=300, after=100)
        assert (result.old, result.new) == ("redis0", "redis1")  # Sentinel promoted the replica
        assert result.acked_while_slow > 0
        assert 0 < result.lost <= result.acknowledged
        home, pids = group.home, {s.pid for s in group.servers.values() if s.pid}
    assert not leftovers(pids, home)


async def test_with_wait_nothing_acknowledged_is_lost():
    async with SentinelGroup() as group:
        result = await kill_master_under_load(group, wait=True, warmup=300, after=100)
        assert result.new == "redis1"
        # WAIT said no replica had them: never acknowledged (but the one batch in flight when the link dropped)
        assert result.acked_while_slow <= 50
        assert result.unconfirmed > 0 and result.lost == 0, str(result)
        home = group.home
    assert not leftovers(set(), home)


async def test_a_consumer_group_follows_the_new_master_and_handles_every_surviving_entry():
    """Chapter 2's consumer group (XREADGROUP + XACK) through both failovers: nothing that survived is
    missed; what it read may be gone (without WAIT) or come again (the group's state replicates late)."""
    async with SentinelGroup() as group:
        nowait = await consume_while_master_dies(group, wait=False, warmup=300, after=100)
        assert nowait.new == "redis1" and nowait.consumer_errors > 0  # its polls failed, then found redis1
        assert nowait.lost > 0 and nowait.vanished > 0, str(nowait)  # handled, then taken back by the failover
        assert nowait.unconsumed == 0, str(nowait)
        await group.restart(nowait.old)
        withwait = await consume_while_master_dies(group, wait=True, warmup=300, after=100)
        assert withwait.new == "redis0"
        assert withwait.lost == 0 and withwait.unconsumed == 0, str(withwait)
        home = group.home
    assert not leftovers(set(), home)
