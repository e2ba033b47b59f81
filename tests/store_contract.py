"""One contract, every store: the memory and PostgreSQL stores both run these tests.

A test module subclasses :class:`StoreContract` and provides a ``store`` fixture.
"""

from __future__ import annotations

import asyncio

import pytest

from workshop.events import Event, EventFormatError, EventSchemas, Schema, SchemaError
from workshop.store import ConcurrencyError, Snapshot
from workshop.store.upcasting import Upcasters


class Deposited(Schema):
    amount: int


TYPES = EventSchemas({"ContractDeposited": {1: Deposited}})


def ev(stream: str, n: int = 0, **data) -> Event:
    return Event("ContractDeposited", stream, {"amount": n, **data})


class StoreContract:
    async def test_append_then_read_returns_events_in_order_with_versions(self, store):
        sent = [ev("acc-1", 1), ev("acc-1", 2), ev("acc-1", 3)]
        assert await store.append("acc-1", sent, expected_version=0) == 3
        got = await store.read("acc-1")
        assert [e.version for e in got] == [1, 2, 3]
        assert [e.data["amount"] for e in got] == [1, 2, 3]
        assert [e.event_id for e in got] == [e.event_id for e in sent]
        assert all(g.when == s.when for g, s in zip(got, sent))
        assert await store.version("acc-1") == 3

    async def test_unknown_stream_is_empty_at_version_zero(self, store):
        assert await store.read("nobody") == []
        assert await store.version("nobody") == 0

    async def test_wrong_expected_version_raises_and_writes_nothing(self, store):
        await store.append("acc-1", [ev("acc-1", 1)], expected_version=0)
        with pytest.raises(ConcurrencyError) as info:
            await store.append("acc-1", [ev("acc-1", 2), ev("acc-1", 3)], expected_version=0)
        err = info.value
        assert (err.stream_id, err.expected, err.actual) == ("acc-1", 0, 1)
        assert "acc-1" in str(err) and "expected version 0" in str(err) and "version 1" in str(err)
        assert await store.version("acc-1") == 1
        assert len(await store.read_all()) == 1

    async def test_expected_version_none_appends_at_the_end(self, store):
        await store.append("acc-1", [ev("acc-1")], expected_version=None)
        assert await store.append("acc-1", [ev("acc-1")], expected_version=None) == 2

    async def test_a_bad_event_rejects_the_whole_batch(self, store):
        store.validate = TYPES.validate
        bad = Event("ContractDeposited", "acc-1", {"amount": "ten"})
        with pytest.raises(SchemaError, match="^ContractDeposited v1: amount: Input should be a valid integer"):
            await store.append("acc-1", [ev("acc-1", 1), bad], expected_version=0)
        with pytest.raises(EventFormatError, match="acc-2"):
            await store.append("acc-1", [ev("acc-2", 1)], expected_version=0)
        assert await store.version("acc-1") == 0 and await store.read_all() == []

    async def test_the_validate_hook_is_the_only_data_check(self, store):
        await store.append("acc-1", [Event("ContractDeposited", "acc-1", {"amount": "ten"})], expected_version=0)

        def no_big_amounts(event):  # any function works; its EventFormatError becomes a SchemaError
            if event.data["amount"] > 100:
                raise EventFormatError(f"{event.event_type}: amount {event.data['amount']} is over 100")

        store.validate = no_big_amounts
        with pytest.raises(SchemaError, match="^ContractDeposited: amount 101 is over 100$"):
            await store.append("acc-1", [ev("acc-1", 101)], expected_version=1)
        assert await store.append("acc-1", [ev("acc-1", 100)], expected_version=1) == 2

    async def test_read_a_range_of_versions(self, store):
        await store.append("acc-1", [ev("acc-1", i) for i in range(1, 6)], expected_version=0)
        assert [e.version for e in await store.read("acc-1", from_version=2, to_version=4)] == [2, 3, 4]
        assert [e.version for e in await store.read("acc-1", from_version=5)] == [5]
        assert [e.version for e in await store.read("acc-1", to_version=1)] == [1]
        assert await store.read("acc-1", to_version=0) == []

    async def test_global_feed_is_ordered_across_streams(self, store):
        await store.append("a", [ev("a", 1), ev("a", 2)], expected_version=0)
        await store.append("b", [ev("b", 3)], expected_version=0)
        await store.append("a", [ev("a", 4)], expected_version=2)
        feed = await store.read_all()
        assert [r.position for r in feed] == [1, 2, 3, 4]
        assert [(r.event.aggregate_id, r.event.version) for r in feed] == [("a", 1), ("a", 2), ("b", 1), ("a", 3)]
        assert [r.position for r in await store.read_all(after=2, limit=1)] == [3]
        assert await store.read_all(after=4) == []
        assert await store.head() == 4

    async def test_position_finds_a_streams_event_in_the_global_feed(self, store):
        await store.append("a", [ev("a", 1), ev("a", 2)], expected_version=0)
        await store.append("b", [ev("b", 3)], expected_version=0)
        await store.append("a", [ev("a", 4)], expected_version=2)
        assert [await store.position("a", v) for v in (1, 2, 3)] == [1, 2, 4]
        assert await store.position("b", 1) == 3
        assert await store.position("a", 0) == 0  # before the first event
        assert await store.position("a", 9) == 0 and await store.position("nobody", 1) == 0

    async def test_append_at_says_where_the_append_landed_or_appends_nothing(self, store):
        await store.append("b", [ev("b", 1)], expected_version=0)
        assert await store.append_at("a", [ev("a", 2), ev("a", 3)], expected_version=0) == (2, 3)
        assert await store.append_at("a", [ev("a", 4)], expected_version=2) == (3, 4)
        with pytest.raises(ConcurrencyError):
            await store.append_at("a", [ev("a", 5)], expected_version=2)
        assert await store.head() == 4 and await store.version("a") == 3

    async def test_only_one_of_many_concurrent_writers_wins(self, store):
        results = await asyncio.gather(
            *(store.append("acc-1", [ev("acc-1", i)], expected_version=0) for i in range(6)),
            return_exceptions=True,
        )
        assert sum(r == 1 for r in results) == 1
        assert sum(isinstance(r, ConcurrencyError) for r in results) == 5
        assert len(await store.read("acc-1")) == 1

    async def test_snapshots_latest_by_tag_and_version(self, store):
        await store.save_snapshot(Snapshot("acc-1", 10, {"total": 10}, tag="v1"))
        await store.save_snapshot(Snapshot("acc-1", 20, {"total": 20}, tag="v1"))
        await store.save_snapshot(Snapshot("acc-1", 30, {"total": 30}, tag="v2"))
        assert (await store.load_snapshot("acc-1", tag="v1")).state == {"total": 20}
        assert (await store.load_snapshot("acc-1", tag="v1", max_version=15)).version == 10
        assert await store.load_snapshot("acc-1", tag="v1", max_version=5) is None
        assert await store.load_snapshot("acc-1", tag="v1", max_version=0) is None
        assert await store.load_snapshot("acc-2", tag="v1") is None

    async def test_a_snapshot_is_a_copy(self, store):
        state = {"total": 1}
        await store.save_snapshot(Snapshot("acc-1", 1, state))
        state["total"] = 99
        assert (await store.load_snapshot("acc-1")).state == {"total": 1}

    async def test_forget_drops_snapshots_but_keeps_events(self, store):
        await store.append("acc-1", [ev("acc-1", 1)], expected_version=0)
        await store.save_snapshot(Snapshot("acc-1", 1, {"total": 1}))
        await store.forget("acc-1")
        assert await store.load_snapshot("acc-1") is None
        assert len(await store.read("acc-1")) == 1

    async def test_upcasting_on_read_leaves_stored_events_alone(self, store):
        chain = Upcasters()

        @chain.register("ContractDeposited", from_version=1)
        def cents(data):
            return {**data, "cents": data["amount"] * 100}

        store.upcasters = chain
        await store.append("acc-1", [ev("acc-1", 2)], expected_version=0)
        (e,) = await store.read("acc-1")
        assert e.schema_version == 2 and e.data["cents"] == 200
        (r,) = await store.read_all()
        assert r.event.data["cents"] == 200
        (raw,) = await store.raw("acc-1")
        assert raw.schema_version == 1 and "cents" not in raw.data

    async def test_follow_yields_everything_then_stops_when_idle(self, store):
        from workshop.store.feed import follow

        await store.append("a", [ev("a", i) for i in range(5)], expected_version=0)
        seen = [r.position async for r in follow(store, after=2, batch=2, poll=0.01, idle_timeout=0.1)]
        assert seen == [3, 4, 5]
