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


async def test_the_crash_waits_until_redis_has_written_what_it_acknowledged(monkeypatch):
    """A busy disk makes Redis (everysec) hold acknowledged writes in memory for up to 2 s:
    a SIGKILL then loses them — the notebook once showed 'lost 500 of 500' for everysec."""
    from workshop.pubsub import durability
    from workshop.pubsub.backpressure import ThrowawayRedis

    steps: list[str] = []
    reports = iter([4096, 4096, 0])  # what a busy disk looks like from INFO persistence
    real_unwritten, real_crash = durability.unwritten, ThrowawayRedis.crash

    async def held_back(r):
        assert await real_unwritten(r) == 0  # the real field is there (and 0 on an idle disk)
        steps.append(f"buffer {(left := next(reports))}")
        return left

    async def crash(self):
        steps.append("SIGKILL")
        await real_crash(self)

    monkeypatch.setattr(durability, "unwritten", held_back)
    monkeypatch.setattr(ThrowawayRedis, "crash", crash)
    r = await durability.restart("everysec", n=20)
    assert steps == ["buffer 4096", "buffer 4096", "buffer 0", "SIGKILL"]
    assert r.held_back == 4096 and r.lost == 0
