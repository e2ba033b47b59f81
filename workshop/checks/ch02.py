"""Checks for chapter 2 (solutions/02_pubsub.ipynb): pub/sub with patterns, and a consumer group.

* 2.1 ``start_type_counter(s, counts)`` — a pattern subscriber on every ``*_events`` channel
  that counts events per type, confirmed before it returns;
* 2.2 ``drain(r, stream, group, consumer, handle)`` — read what the group has not seen yet
  (``XREADGROUP >``), ``XACK`` each entry after it was handled, leave failures pending.

Both run against the real Redis, in a scratch namespace of the checker's own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from workshop import connect
from workshop.checks import acall, check, expect, expect_equal, expect_isinstance
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
    pub = await Publisher.connect(s)  # ready first: it publishes the moment the learner's function returns
    sub = None
    try:
        sub = await acall("2.1", start_type_counter, s, counts, shown="start_type_counter(s, counts)",
                          hint="Subscriber.start(s, patterns=[...], handler=...) does the subscribing")
        expect_isinstance("2.1", sub, Subscriber, what="what start_type_counter returned",
                          hint="Return the Subscriber from `await Subscriber.start(...)`, so it can be stopped.")
        sub.log_line = lambda line: None  # the check's bad message is expected; problems are still kept
        # published at once: a subscriber that returned before Redis confirmed it would miss these
        sent = [("user_events", user_action(1)), ("user_events", Event("UserCreated", "user-9", {})),
                ("system_events", Event("Deployed", "api", {"version": "1.2"})), ("user_events", user_action(2)),
                ("audit", Event("UserCreated", "user-9", {}))]
        for channel, event in sent:
            await pub.publish(channel, event)
        await pub.publish_raw("user_events", "not an event")
        try:
            await until(lambda: sub.stats.received >= 5, timeout=2.0, what="deliveries")
        except WaitTimeout:
            pass
        await asyncio.sleep(0.1)  # would anything more arrive (e.g. from 'audit')?
        expect("2.1", not sub.stats.failed,
               f"your handler raised while counting: {sub.problems[0] if sub.problems else ''}".strip())
        got = dict(counts)
        expected = {"user_action": 2, "UserCreated": 1, "Deployed": 1}
        expect("2.1", not set(got) & {"user_events", "system_events", "audit"},
               f"count by event type (event.event_type), not by channel: got {got}")
        expect("2.1", bool(got), "nothing was counted, and the events were published the moment "
               "start_type_counter returned: return only after `await Subscriber.start(...)` has confirmed "
               "the subscription (and pass your counting function as handler=).")
        expect("2.1", got.get("Deployed") == 1,
               f"nothing from system_events was counted (got {got}): subscribe with a pattern, "
               "patterns=['*_events'], which matches user_events and system_events alike.")
        expect("2.1", got.get("UserCreated", 0) <= 1,
               f"the event on 'audit' was counted too (got {got}): '*' matches every channel; "
               "'*_events' only the ones ending in _events.")
        expect_equal("2.1", got, expected, what="the counts per event type",
                     hint="Every event must be counted once, from the moment start_type_counter returns: "
                          "return only after `await Subscriber.start(...)` has confirmed the subscription.")
        return "one pattern, every *_events channel, counted per type; the bad message was skipped"
    finally:
        if isinstance(sub, Subscriber):
            await sub.stop()
        await pub.close()


def _seq_handler(seen: list[int]) -> Callable[[Event], None]:
    def handle(event: Event) -> None:
        if event.data.get("seq") == 99:
            raise ValueError("seq 99 is poison")
        seen.append(event.data["seq"])
    return handle


@check("2.2")
async def check_drain(drain: Callable[..., Awaitable[int]]) -> str:
    s = _scratch()
    r = await connect.redis(s)
    stream, group = s.namespace.key("user_events"), "ex22"
    seen: list[int] = []
    handle = _seq_handler(seen)

    async def run(phase: str, hint: str = "") -> int:
        return await acall("2.2", drain, r, stream, group, "c1", handle,
                           shown=f"drain(r, stream, group, 'c1', handle) {phase}", hint=hint)

    try:
        for i in range(5):
            await r.xadd(stream, {"event": user_action(i).to_json()})
        first = await run("on a stream of 5 events")
        expect_equal("2.2", seen, [0, 1, 2, 3, 4], what="the events handled by the first drain",
                     hint="Read with the group: XREADGROUP GROUP group consumer ... STREAMS stream '>', after "
                          "creating the group at id '0' so it starts with the entries already there.")
        expect_equal("2.2", first, 5, what="what drain() returned", hint="Return how many entries were handled.")
        for i in range(5, 8):  # appended while the consumer was restarting
            await r.xadd(stream, {"event": user_action(i).to_json()})
        again = await run("after a restart, with 3 new events")
        expect_equal("2.2", seen, list(range(8)), what="the events handled after the restart",
                     hint="The group remembers where it stopped: read with '>' (new to the group) again; "
                          "reading from '0' returns only your own pending entries.")
        expect_equal("2.2", again, 3, what="what the second drain() returned")
        pending = (await r.xpending(stream, group))["pending"]
        expect_equal("2.2", pending, 0, what="the entries still pending (XPENDING) after handling them all",
                     hint="XACK each entry after handling it: await r.xack(stream, group, entry_id).")

        poison = await r.xadd(stream, {"event": user_action(99).to_json()})
        await r.xadd(stream, {"event": user_action(8).to_json()})
        last = await run("with a poison event that makes handle() raise",
                         hint="when handle() raises, leave that entry pending (no XACK) and go on with the next")
        expect_equal("2.2", seen[-1:], [8], what="the last event handled",
                     hint="Go on with the next entry after a failure.")
        expect_equal("2.2", last, 1, what="what drain() returned with one failure among two",
                     hint="Count only the entries handled successfully.")
        rows = await r.xpending_range(stream, group, min="-", max="+", count=10)
        expect_equal("2.2", [row["message_id"] for row in rows], [poison], what="the pending entries",
                     hint="XACK only after handle() returned: an entry acknowledged before (or despite) a "
                          "failure is gone for good, and XAUTOCLAIM can no longer retry it.")
        return "the group survives a restart; failures stay pending for XAUTOCLAIM"
    finally:
        await r.aclose()
        await reset_namespace(s, quiet=True)
