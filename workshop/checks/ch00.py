"""Checks for the warm-up (solutions/00_warmup.ipynb): an event to a Redis Stream and back."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from workshop import connect
from workshop.checks import acall, check, expect, expect_equal, expect_isinstance, fail, short
from workshop.config import settings
from workshop.events import Event, EventFormatError

Publish = Callable[..., Awaitable[str]]
ReadBack = Callable[..., Awaitable[list[Event]]]


def sample_events() -> list[Event]:
    """The course's user: created, e-mail changed, activated."""
    return [
        Event("UserCreated", "user-1", {"name": "Alice", "email": "alice@example.com"}, version=1),
        Event("EmailUpdated", "user-1", {"email": "newemail@example.com"}, version=2),
        Event("UserActivated", "user-1", {}, version=3),
    ]


async def _scratch_stream():
    """A Redis client and an empty stream key of the checker's own."""
    r = await connect.redis()
    return r, settings().namespace.key("check", uuid.uuid4().hex[:8])


@check("0.1")
async def check_publish(publish: Publish) -> str:
    r, stream = await _scratch_stream()
    try:
        events = sample_events()[:2]
        ids = [
            await acall(
                "0.1",
                publish,
                r,
                stream,
                e,
                shown=f"publish(r, stream, {e.event_type} event)",
                hint="XADD takes a dict of strings: {'event': event.to_json()}",
            )
            for e in events
        ]
        expect(
            "0.1",
            all(isinstance(i, str) and "-" in i for i in ids),
            f"publish() should return the entry id that XADD gives back (like '1700000000000-0'), got {short(ids)}",
        )
        entries = await r.xrange(stream)
        if not entries:
            fail(
                "0.1",
                f"publish(r, stream, …) returned {short(ids)}, but the stream it was given is empty: "
                "your function ignored its `stream` argument — await r.xadd(stream, …).",
            )
        expect_equal(
            "0.1",
            len(entries),
            2,
            what="the number of entries in the stream after two publishes",
            hint="Call XADD once per event: await r.xadd(stream, {...}).",
        )
        for (_, fields), sent in zip(entries, events):
            expect(
                "0.1", "event" in fields, f"each stream entry should have a field named 'event'; found {sorted(fields)}"
            )
            try:
                stored = Event.from_json(fields["event"])
            except EventFormatError as exc:
                fail(
                    "0.1",
                    f"the 'event' field holds {short(fields['event'])}, not the event's JSON ({exc}). "
                    "Store event.to_json(), the whole envelope (not str(event), not only event.data).",
                )
            expect_equal(
                "0.1",
                stored,
                sent,
                what="the stored event",
                hint="Store event.to_json() unchanged, so every field survives the trip.",
            )
        return "both events are in the stream as JSON"
    finally:
        await r.delete(stream)
        await r.aclose()


def _stream_of(n: int) -> list[Event]:
    return [Event("Ticked", "clock-1", {"i": i}, version=i) for i in range(1, n + 1)]


@check("0.2")
async def check_read_back(read_back: ReadBack) -> str:
    r, stream = await _scratch_stream()
    try:
        events = sample_events()
        for e in events:
            await r.xadd(stream, {"event": e.to_json()})
        got = await acall(
            "0.2",
            read_back,
            r,
            stream,
            shown="read_back(r, stream) on a stream of 3 events",
            hint="await r.xrange(stream) gives [(entry_id, {'event': json}), …]",
        )
        expect_isinstance("0.2", got, list, hint="read_back() should return a list.")
        if not got:
            fail(
                "0.2",
                "read_back(r, stream) on a stream of 3 events returned []: read the stream you were given "
                "(its `stream` argument), from the start — await r.xrange(stream).",
            )
        expect_equal("0.2", len(got), len(events), what="the number of events read back")
        for item in got:
            expect_isinstance(
                "0.2",
                item,
                Event,
                what="each item",
                hint="Turn each entry's 'event' field into an Event with Event.from_json().",
            )
        expect_equal(
            "0.2",
            [e.version for e in got],
            [1, 2, 3],
            what="the versions, in order",
            hint="XRANGE returns the oldest entry first; keep that order.",
        )
        expect_equal("0.2", got, events, what="the events read back")

        await r.delete(stream)
        empty = await acall(
            "0.2",
            read_back,
            r,
            stream,
            shown="read_back(r, stream) on a stream that does not exist",
            hint="an empty or missing stream has no entries: XRANGE gives [], so return []",
        )
        expect_equal(
            "0.2",
            empty,
            [],
            what="what read_back() returned for a stream that does not exist",
            hint="no entries, no events: return [].",
        )
        long = _stream_of(150)
        async with r.pipeline(transaction=False) as pipe:
            for e in long:
                pipe.xadd(stream, {"event": e.to_json()})
            await pipe.execute()
        got = await acall("0.2", read_back, r, stream, shown="read_back(r, stream) on a stream of 150 events")
        count = len(got) if isinstance(got, list) else 0
        expect(
            "0.2",
            count == 150,
            f"read_back(r, stream) on a stream of 150 events returned {count}: XRANGE with count= gives only "
            "the first `count` entries — read them all (no count) or page on from the last id.",
        )
        return "three events came back as Event objects, in order"
    finally:
        await r.delete(stream)
        await r.aclose()
