"""A stream survives a server crash only with persistence (throw-away redis-servers, SIGKILL)."""

from __future__ import annotations

import pytest

from workshop.pubsub.durability import restart


async def test_without_persistence_a_server_crash_wipes_the_stream_its_group_and_the_pending_list():
    r = await restart(None, n=50)
    assert (r.entries_after, r.groups_after, r.pending_after) == (0, 0, 0)
    assert r.lost == 50 and r.pending == 5


@pytest.mark.parametrize("appendfsync", ["everysec", "always"])
async def test_with_the_aof_a_killed_server_comes_back_with_every_entry_the_group_and_its_pending(appendfsync):
    r = await restart(appendfsync, n=50)
    assert (r.entries_after, r.groups_after, r.pending_after, r.lost) == (50, 1, 5, 0)
    assert r.mode == f"AOF {appendfsync}" and r.rate > 0


def test_an_unknown_fsync_policy_is_refused():
    from workshop.pubsub.backpressure import ThrowawayRedis

    with pytest.raises(ValueError, match="appendfsync"):
        ThrowawayRedis(appendfsync="no")
