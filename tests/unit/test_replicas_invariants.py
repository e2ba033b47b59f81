"""The invariant checker finds lost, doubled and gapped events and stale read models — and passes a good store."""

from __future__ import annotations

from collections import Counter

from workshop.events import Event
from workshop.replicas.invariants import audit, check
from workshop.store.base import Recorded
from workshop.store.memory import MemoryEventStore


def count_types(feed: list[Recorded]) -> dict[str, int]:
    return dict(Counter(r.event.event_type for r in feed))


async def _filled() -> tuple[MemoryEventStore, list[str]]:
    store = MemoryEventStore()
    acked = []
    for i in range(5):
        e = Event("Ticked" if i % 2 else "Tocked", f"s-{i % 2}", {"i": i})
        await store.append(e.aggregate_id, [e], None)
        acked.append(e.event_id)
    return store, acked


class SkippingStore(MemoryEventStore):
    """A broken store: its feed never returns position 3."""

    async def read_all(self, after: int = 0, limit: int = 1000) -> list[Recorded]:
        return [r for r in await super().read_all(after, limit) if r.position != 3]


class DoublingStore(MemoryEventStore):
    """A broken store: the feed returns its first event twice (a retried append that had committed)."""

    async def read_all(self, after: int = 0, limit: int = 1000) -> list[Recorded]:
        records = await super().read_all(after, limit)
        if after == 0 and records:
            first = records[0]
            records = records + [Recorded(len(records) + 1 + after, first.event)]
        return records


async def test_a_good_store_passes():
    store, acked = await _filled()
    model = count_types(await store.read_all())
    report = await check(store, acked, {"types": (lambda: model, count_types)})
    assert report.ok and report.checked_models == 1
    assert str(report) == "ok: 5 acknowledged events present once, feed 1..5 dense, 1 model(s) = replay"


async def test_a_lost_acknowledged_event_is_found():
    store, acked = await _filled()
    report = await check(store, [*acked, "never-stored"])
    assert report.lost == ["never-stored"] and not report.ok
    assert "1 acknowledged event(s) lost" in str(report)


async def test_a_gap_is_found():
    store = SkippingStore()
    for i in range(5):
        await store.append("s", [Event("Ticked", "s", {"i": i})], i)
    report = await check(store, [])
    assert report.gaps == [(2, 4)] and "after 2 comes 4" in str(report)


async def test_a_doubled_event_is_found():
    store = DoublingStore()
    e = Event("Ticked", "s", {"i": 0})
    await store.append("s", [e], 0)
    await store.append("s", [Event("Ticked", "s", {"i": 1})], 1)
    report = await check(store, [e.event_id])
    assert report.doubled == [e.event_id] and not report.lost


async def test_a_stale_read_model_is_found():
    store, acked = await _filled()
    stale = count_types((await store.read_all())[:-1])  # the projector missed the last event
    report = await check(store, acked, {"types": (stale, count_types)})
    assert report.models == ["types"] and "differ from a replay: types" in str(report)


def test_audit_does_not_depend_on_the_feed_order():
    events = [Event("Ticked", "s", {"i": i}) for i in range(3)]
    feed = [Recorded(3, events[2]), Recorded(1, events[0]), Recorded(2, events[1])]
    assert audit([e.event_id for e in events], feed).ok
