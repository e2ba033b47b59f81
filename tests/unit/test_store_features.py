"""Snapshots, time travel, crypto-shredding, replay and retries on the memory store."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from workshop import users
from workshop.events import Event
from workshop.store import ConcurrencyError, MemoryEventStore
from workshop.store.aggregate import load
from workshop.store.crypto import REDACTED, Cipher, MemoryKeyStore
from workshop.store.replay import replay
from workshop.store.retry import ConflictRetry, execute
from workshop.store.snapshots import EveryN, take_snapshot
from workshop.store.timetravel import events_as_of, state_at

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def course_events():
    return [
        Event("UserCreated", "user-1", {"name": "Alice", "email": "alice@example.com"}, timestamp=T0.isoformat()),
        Event(
            "EmailUpdated", "user-1", {"email": "newemail@example.com"}, timestamp=(T0 + timedelta(days=1)).isoformat()
        ),
        Event("UserActivated", "user-1", {}, timestamp=(T0 + timedelta(days=2)).isoformat()),
    ]


@pytest.fixture
async def store():
    s = MemoryEventStore(cipher=Cipher(MemoryKeyStore(), users.PERSONAL_FIELDS), upcasters=users.UPCASTERS)
    await s.append("user-1", course_events(), expected_version=0)
    return s


async def test_time_travel_by_version_and_by_timestamp(store):
    assert (await state_at(store, "user-1", users.evolve, version=2))["status"] == "inactive"
    assert (await state_at(store, "user-1", users.evolve, version=0)) == {}
    day1 = await state_at(store, "user-1", users.evolve, as_of=T0 + timedelta(days=1))  # inclusive
    assert day1["email"] == "newemail@example.com" and day1["status"] == "inactive"
    assert await state_at(store, "user-1", users.evolve, as_of="2023-12-31T00:00:00") == {}
    assert len(events_as_of(course_events(), T0 + timedelta(hours=1))) == 1


def test_every_n_policy_catches_batches_that_jump_over_a_multiple():
    policy = EveryN(100)
    assert policy(99, 100) and policy(98, 102) and policy(150, 201)
    assert not policy(100, 101) and not policy(0, 99)


async def test_snapshot_plus_tail_equals_full_replay(store):
    full = await load(store, "user-1", users.evolve)
    await store.append("user-1", [users.EmailUpdated("user-1", email="x@example.com")], 3)
    await take_snapshot(store, "user-1", users.evolve, tag="t")
    await store.append("user-1", [users.EmailUpdated("user-1", email="y@example.com")], 4)
    fast = await load(store, "user-1", users.evolve, snapshot_tag="t")
    slow = await load(store, "user-1", users.evolve)
    assert fast.state == slow.state and fast.version == slow.version == 5
    assert (fast.from_snapshot, fast.replayed) == (4, 1) and (slow.from_snapshot, slow.replayed) == (0, 5)
    assert full.version == 3


async def test_personal_fields_are_encrypted_at_rest_and_shredded_on_forget(store):
    raw = (await store.raw("user-1"))[0].data
    assert "alice" not in str(raw) and set(raw["email"]) == {"$enc"}
    assert users.fold(await store.read("user-1"))["email"] == "newemail@example.com"
    await take_snapshot(store, "user-1", users.evolve)
    await store.forget("user-1")
    state = users.fold(await store.read("user-1"))
    assert state == {"id": "user-1", "name": REDACTED, "email": REDACTED, "status": "active"}
    assert await store.load_snapshot("user-1") is None  # plain-text copies go too
    assert len(await store.raw("user-1")) == 3  # nothing was deleted from the log


async def test_replay_rebuilds_a_view_with_soft_deletes(store):
    await store.append("user-2", [users.UserCreated("user-2", "Bob", "Builder", "bob@example.com")], 0)
    await store.append("user-1", [users.UserDeleted("user-1", reason="asked")], 3)
    view = users.UsersView()
    last = await replay(store, view.apply, batch=2)
    assert last == 5 and view.position == 5
    assert list(view.users) == ["user-2"] and view.deleted == {"user-1"}
    assert users.fold(await store.read("user-1"))["status"] == "deleted"  # still replays


async def test_execute_retries_conflicts_and_loses_nothing(store):
    async def change(i):
        cmd = users.ChangeEmail("user-1", f"e{i}@example.com")
        return await execute(
            store,
            "user-1",
            lambda s: users.decide(cmd, s),
            users.evolve,
            ConflictRetry(attempts=30),
            snapshot_every=EveryN(5),
        )

    outcomes = await asyncio.gather(*(change(i) for i in range(8)))
    assert await store.version("user-1") == 11
    assert sorted(o.version for o in outcomes) == list(range(4, 12))
    for latest, expected in ((None, 10), (9, 5)):
        snap = await store.load_snapshot("user-1", max_version=latest)
        assert snap.version == expected
        assert snap.state == users.fold(await store.read("user-1", to_version=expected))


async def test_execute_gives_up_after_the_policy_attempts(store):
    class Racy(MemoryEventStore):
        async def append(self, stream_id, events, expected_version):
            raise ConcurrencyError(stream_id, expected_version, expected_version + 1)

    with pytest.raises(ConcurrencyError):
        await execute(Racy(), "user-1", lambda s: [], users.evolve, ConflictRetry(attempts=3, base_delay=0))
