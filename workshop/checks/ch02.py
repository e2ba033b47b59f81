"""Checks for chapter 2 (solutions/02_pubsub.ipynb): pub/sub with patterns, and a consumer group.

* 2.1 ``start_type_counter(s, counts)`` — a pattern subscriber on every ``*_events`` channel
  that counts events per type, confirmed before it returns;
* 2.2 ``drain(r, stream, group, consumer, handle)`` — read what the group has not seen yet
  (``XREADGROUP >``, again and again until nothing is left), ``XACK`` each entry after it was
  handled, leave failures pending.

Both run against the real Redis, in a scratch namespace of the checker's own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from redis.exceptions import ResponseError

from workshop import connect
from workshop.checks import acall, check, expect, expect_equal, expect_isinstance, fail, short
from workshop.config import Settings, settings
from workshop.events import Event
from workshop.infra.reset import reset_namespace
from workshop.pubsub.publisher import Publisher, user_action
from workshop.pubsub.subscriber import Subscriber
from workshop.waiting import WaitTimeout, until


def _scratch(suffix: str = "") -> Settings:
    """The checker's own namespace; 2.1 uses a fixed one (``chk21``): on a classroom server Redis
    grants a PSUBSCRIBE pattern only as written (workshop/classroom/redis_acl.py)."""
    base = settings()
    return replace(base, namespace=base.namespace.child(suffix or f"chk{uuid.uuid4().hex[:6]}"))


@check("2.1")
async def check_type_counter(start_type_counter: Callable[..., Awaitable[Any]]) -> str:
    s = _scratch("chk21")  # channels only, no keys: nothing left over from an earlier run
    counts: Counter = Counter()
    pub = await Publisher.open(s)  # ready first: it publishes the moment the learner's function returns
    sub = None
    try:
        sub = await acall(
            "2.1",
            start_type_counter,
            s,
            counts,
            shown="start_type_counter(s, counts)",
            hint="Subscriber.start(s, patterns=[...], handler=...) does the subscribing",
        )
        expect_isinstance(
            "2.1",
            sub,
            Subscriber,
            what="what start_type_counter returned",
            hint="Return the Subscriber from `await Subscriber.start(...)`, so it can be stopped.",
        )
        namespace = getattr(getattr(sub, "namespace", None), "name", s.namespace.name)
        expect(
            "2.1",
            namespace == s.namespace.name,
            f"start_type_counter(s, counts) subscribed in the namespace {namespace!r}, not in s's "
            f"{s.namespace.name!r}: your function ignored its `s` argument — Subscriber.start(s, …).",
        )
        sub.log_line = lambda line: None  # the check's bad message is expected; problems are still kept
        # published at once: a subscriber that returned before Redis confirmed it would miss these
        sent = [
            ("user_events", user_action(1)),
            ("user_events", Event("UserCreated", "user-9", {})),
            ("system_events", Event("Deployed", "api", {"version": "1.2"})),
            ("user_events", user_action(2)),
            ("order_events", Event("OrderPlaced", "ORD-1", {})),
            ("audit", Event("UserCreated", "user-9", {})),
        ]
        for channel, event in sent:
            await pub.publish(channel, event)
        await pub.publish_raw("user_events", "not an event")
        try:
            await until(lambda: sub.stats.received >= 6, timeout=2.0, what="deliveries")
        except WaitTimeout:
            pass
        await asyncio.sleep(0.1)  # would anything more arrive (e.g. from 'audit')?
        expect(
            "2.1",
            not sub.stats.failed,
            f"your handler raised while counting: {sub.problems[0] if sub.problems else ''}".strip(),
        )
        got = dict(counts)
        expected = {"user_action": 2, "UserCreated": 1, "Deployed": 1, "OrderPlaced": 1}
        shown = short(got)
        if got and all(isinstance(k, str) and len(k) == 1 for k in got):
            fail(
                "2.1",
                f"the counts are per letter ({shown}): counts.update('UserCreated') counts the string's "
                "letters — use counts[event.event_type] += 1 (or counts.update([event.event_type])).",
            )
        expect(
            "2.1",
            not set(got) & {"user_events", "system_events", "order_events", "audit"},
            f"count by event type (event.event_type), not by channel: got {shown}",
        )
        if not got and sub.stats.handled:
            fail(
                "2.1",
                f"your handler ran {sub.stats.handled} times but `counts` is still empty: count into the "
                "Counter you were given (start_type_counter's `counts` argument), not a new one.",
            )
        expect(
            "2.1",
            bool(got),
            "nothing was counted, and the events were published the moment "
            "start_type_counter returned: return only after `await Subscriber.start(...)` has confirmed "
            "the subscription (and pass your counting function as handler=).",
        )
        patterns = list(getattr(sub, "patterns", []) or [])
        if not patterns and got.get("Deployed") == 1 and "OrderPlaced" not in got:
            fail(
                "2.1",
                f"nothing from order_events was counted (got {shown}): a fixed list of channels misses "
                "every channel you did not name — subscribe with a pattern, patterns=['*_events'].",
            )
        expect(
            "2.1",
            got.get("Deployed") == 1 and got.get("OrderPlaced") == 1,
            f"nothing from system_events or order_events was counted (got {shown}): subscribe with a pattern, "
            "patterns=['*_events'], which matches user_events, system_events and order_events alike.",
        )
        expect(
            "2.1",
            got.get("UserCreated", 0) <= 1,
            f"the event on 'audit' was counted too (got {shown}): '*' matches every channel; "
            "'*_events' only the ones ending in _events.",
        )
        if got.get("user_action") == 1 and sub.stats.handled >= 5:
            fail(
                "2.1",
                f"two user_action events arrived, counted as {shown}: add one per event "
                "(counts[t] += 1), don't set the count to 1.",
            )
        expect_equal(
            "2.1",
            got,
            expected,
            what="the counts per event type",
            hint="Every event must be counted once, from the moment start_type_counter returns: "
            "return only after `await Subscriber.start(...)` has confirmed the subscription.",
        )
        return "one pattern, every *_events channel, counted per type; the bad message was skipped"
    finally:
        if isinstance(sub, Subscriber):
            await sub.stop()
        await pub.close()


class _Handle:
    """The check's ``handle(event)``: remembers the seq of every event; seq 99 is poison.

    It also notes anything that is not an Event (a raw JSON string, the entry's fields)."""

    def __init__(self) -> None:
        self.seen: list[int] = []
        self.not_events: list[Any] = []

    def __call__(self, event: Event) -> None:
        if not isinstance(event, Event):
            self.not_events.append(event)
            raise TypeError(f"handle() takes an Event, got {type(event).__name__}")
        if event.data.get("seq") == 99:
            raise ValueError("seq 99 is poison")
        self.seen.append(event.data["seq"])


def _drain_crash(exc: BaseException) -> str:
    text = str(exc)
    if "BUSYGROUP" in text:
        return (
            "the group exists after the first run: create it only when it is missing "
            "(catch BUSYGROUP, as ensure_group does)"
        )
    if "NOGROUP" in text:
        return (
            "the group does not exist yet: create it first at id '0' with mkstream=True "
            "(ensure_group(r, stream, group) does it)"
        )
    if isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__:
        return (
            "XREADGROUP with block=0 waits for ever when nothing is new: leave `block` out, so an empty "
            "read returns at once and drain() can stop"
        )
    return (
        "XREADGROUP returns [[stream, [(entry_id, {'event': json}), …]]] (or [] when nothing is new); "
        "the event is Event.from_json(fields['event'])"
    )


async def _groups(r: Any, stream: str) -> dict[str, dict]:
    try:
        return {g["name"]: g for g in await r.xinfo_groups(stream)}
    except ResponseError:  # no such key: nothing was ever added
        return {}


@check("2.2")
async def check_drain(drain: Callable[..., Awaitable[int]]) -> str:
    s = _scratch()
    r = await connect.redis(s, timeout=3.0)  # a read that blocks for ever gives up after 3 s
    stream, group = s.namespace.key("user_events"), f"ex22-{uuid.uuid4().hex[:4]}"
    handle = _Handle()
    seen = handle.seen

    async def run(phase: str, hint: str = "") -> int:
        return await acall(
            "2.2",
            drain,
            r,
            stream,
            group,
            "c1",
            handle,
            shown=f"drain(r, stream, {group!r}, 'c1', handle) {phase}",
            hint=(lambda exc: f"{_drain_crash(exc)}; {hint}") if hint else _drain_crash,
        )

    async def add(first: int, n: int) -> None:
        async with r.pipeline(transaction=False) as pipe:
            for i in range(first, first + n):
                pipe.xadd(stream, {"event": user_action(i).to_json()})
            await pipe.execute()

    try:
        await add(0, 5)
        first = await run("on a stream of 5 events")
        groups = await _groups(r, stream)
        if group not in groups:
            others = f" (the stream has {sorted(groups)})" if groups else " (the stream has no group at all)"
            fail(
                "2.2",
                f"after drain(r, stream, {group!r}, 'c1', handle) there is no group {group!r}{others}: "
                + (
                    "your function ignored its `group` argument — use the name it was given."
                    if groups
                    else "create it at id '0' (ensure_group(r, stream, group)) and read with it."
                ),
            )
        consumers = [c["name"] for c in await r.xinfo_consumers(stream, group)]
        expect(
            "2.2",
            not consumers or "c1" in consumers,
            f"the group read as consumer {consumers[:3]}, not 'c1': your function ignored its `consumer` "
            "argument — each process passes its own name, so pending entries can be told apart.",
        )
        if handle.not_events:
            fail(
                "2.2",
                f"handle() was given {short(handle.not_events[0])} "
                f"({type(handle.not_events[0]).__name__}), not an Event: "
                "turn the entry's 'event' field into one with Event.from_json(fields['event']).",
            )
        expect_equal(
            "2.2",
            seen,
            [0, 1, 2, 3, 4],
            what="the events handled by the first drain",
            hint="Read with the group: XREADGROUP GROUP group consumer ... STREAMS stream '>', after "
            "creating the group at id '0' so it starts with the entries already there.",
        )
        expect_equal("2.2", first, 5, what="what drain() returned", hint="Return how many entries were handled.")
        await add(5, 3)  # appended while the consumer was restarting
        again = await run("after a restart, with 3 new events")
        expect_equal(
            "2.2",
            seen,
            list(range(8)),
            what="the events handled after the restart",
            hint="The group remembers where it stopped: read with '>' (new to the group) again; "
            "reading from '0' returns only your own pending entries.",
        )
        expect_equal("2.2", again, 3, what="what the second drain() returned")
        pending = (await r.xpending(stream, group))["pending"]
        expect_equal(
            "2.2",
            pending,
            0,
            what="the entries still pending (XPENDING) after handling them all",
            hint="XACK each entry after handling it: await r.xack(stream, group, entry_id).",
        )

        poison = await r.xadd(stream, {"event": user_action(99).to_json()})
        await r.xadd(stream, {"event": user_action(8).to_json()})
        last = await run(
            "with a poison event that makes handle() raise",
            hint="when handle() raises, leave that entry pending (no XACK) and go on with the next",
        )
        expect_equal(
            "2.2", seen[-1:], [8], what="the last event handled", hint="Go on with the next entry after a failure."
        )
        expect_equal(
            "2.2",
            last,
            1,
            what="what drain() returned with one failure among two",
            hint="Count only the entries handled successfully.",
        )
        rows = await r.xpending_range(stream, group, min="-", max="+", count=10)
        expect_equal(
            "2.2",
            [row["message_id"] for row in rows],
            [poison],
            what="the pending entries",
            hint="XACK only after handle() returned: an entry acknowledged before (or despite) a "
            "failure is gone for good, and XAUTOCLAIM can no longer retry it.",
        )

        backlog = 250
        await add(100, backlog)  # a consumer that was down for a while: more than one read's worth
        before = len(seen)
        many = await run(f"on a backlog of {backlog} new events")
        handled = len(seen) - before
        expect(
            "2.2",
            handled == backlog,
            f"drain() handled {handled} of a backlog of {backlog} new events and returned: XREADGROUP gives at "
            "most `count` entries per call — read again until it returns nothing.",
        )
        expect_equal("2.2", many, backlog, what=f"what drain() returned for the backlog of {backlog}")
        return "the group survives a restart; failures stay pending for XAUTOCLAIM"
    finally:
        await r.aclose()
        await reset_namespace(s, quiet=True)
