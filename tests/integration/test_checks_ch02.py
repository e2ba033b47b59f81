"""Chapter 2's checks on the real Redis: the solution passes, the stub is 'not done', wrong answers get
a hint, a crashing answer is one line."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from tests.one_line import assert_async_check_one_line
from workshop.checks import ExerciseFailed, ExerciseNotDone
from workshop.checks.ch02 import check_drain, check_type_counter
from workshop.events import Event
from workshop.pubsub import Subscriber
from workshop.pubsub.streams import ensure_group

# --- 2.1 -----------------------------------------------------------------------------------------


async def start_type_counter(s, counts):
    return await Subscriber.start(s, patterns=["*_events"], handler=lambda ch, e: counts.update([e.event_type]))


async def counter_stub(s, counts):
    raise NotImplementedError("Exercise 2.1: Count events per type")


async def counter_one_channel(s, counts):  # the course's habit: a list of channels
    return await Subscriber.start(s, channels=["user_events"], handler=lambda ch, e: counts.update([e.event_type]))


async def counter_everything(s, counts):
    return await Subscriber.start(s, patterns=["*"], handler=lambda ch, e: counts.update([e.event_type]))


async def counter_by_channel(s, counts):
    return await Subscriber.start(s, patterns=["*_events"], handler=lambda ch, e: counts.update([ch]))


async def counter_unconfirmed(s, counts):  # returns before the subscription is confirmed
    task = asyncio.create_task(
        Subscriber.start(s, patterns=["*_events"], handler=lambda ch, e: counts.update([e.event_type]))
    )
    counter_unconfirmed.tasks.append(task)
    await asyncio.sleep(0)
    return _Late(task)


counter_unconfirmed.tasks = []


class _Late(Subscriber):
    """Looks like a Subscriber to the check, but its subscription is still being set up."""

    def __init__(self, task):
        self.task = task

    @property
    def stats(self):
        return self.task.result().stats if self.task.done() else type("S", (), {"received": 0, "failed": 0})()

    @property
    def problems(self):
        return []

    async def stop(self):
        await (await self.task).stop()


async def counter_crashing_handler(s, counts):
    return await Subscriber.start(
        s, patterns=["*_events"], handler=lambda ch, e: counts.update([e.type]), log_line=lambda line: None
    )


async def counter_forgets_await(s, counts):
    return Subscriber.start(s, patterns=["*_events"], handler=lambda ch, e: counts.update([e.event_type]))


async def counter_letters(s, counts):
    """Wrong: Counter.update(a string) counts the string's letters."""
    return await Subscriber.start(s, patterns=["*_events"], handler=lambda ch, e: counts.update(e.event_type))


async def counter_default_namespace(s, counts):
    """Wrong: forgets to pass `s` — the subscription lands in the default namespace."""
    return await Subscriber.start(patterns=["*_events"], handler=lambda ch, e: counts.update([e.event_type]))


async def counter_fixed_list(s, counts):
    """Wrong: a fixed list of the channels seen in the notebook where a pattern is meant."""
    return await Subscriber.start(
        s, channels=["user_events", "system_events"], handler=lambda ch, e: counts.update([e.event_type])
    )


async def counter_sets_one(s, counts):
    """Wrong: sets the count instead of adding one (repeated events count once)."""

    def count(ch, e):
        counts[e.event_type] = 1

    return await Subscriber.start(s, patterns=["*_events"], handler=count)


async def counter_own_counter(s, counts):
    """Wrong: counts into a Counter of its own."""
    mine = Counter()
    return await Subscriber.start(s, patterns=["*_events"], handler=lambda ch, e: mine.update([e.event_type]))


async def test_2_1_passes_on_the_solution(capsys):
    await check_type_counter(start_type_counter)
    assert "✅ Exercise 2.1 passed" in capsys.readouterr().out


async def test_2_1_stub_is_not_done():
    with pytest.raises(ExerciseNotDone, match="Exercise 2.1 is not done yet"):
        await check_type_counter(counter_stub)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (counter_one_channel, "subscribe with a pattern"),
        (counter_everything, "'\\*' matches every channel"),
        (counter_by_channel, "not by channel"),
        (counter_unconfirmed, "confirmed the subscription"),
        (counter_letters, "counts the string's letters"),
        (counter_default_namespace, "ignored its `s` argument"),
        (counter_fixed_list, "a fixed list of channels misses every channel you did not name"),
        (counter_sets_one, "don't set the count to 1"),
        (counter_own_counter, "count into the Counter you were given"),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
async def test_2_1_wrong_answers_get_a_hint(wrong, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        await check_type_counter(wrong)


@pytest.mark.parametrize(
    "wrong, parts",
    [
        (counter_crashing_handler, ["your handler raised while counting", "AttributeError", "'type'"]),
        (counter_forgets_await, ["start_type_counter(s, counts)", "did you forget `await`"]),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
async def test_2_1_a_crashing_answer_is_one_line(wrong, parts, capsys):
    await assert_async_check_one_line(check_type_counter, wrong, parts, capsys)


# --- 2.2 -----------------------------------------------------------------------------------------


async def drain(r, stream, group, consumer, handle):
    await ensure_group(r, stream, group)
    handled = 0
    while True:
        reply = await r.xreadgroup(group, consumer, {stream: ">"}, count=100)
        if not reply or not reply[0][1]:
            return handled
        for entry_id, fields in reply[0][1]:
            try:
                handle(Event.from_json(fields["event"]))
            except Exception:
                continue
            await r.xack(stream, group, entry_id)
            handled += 1


async def drain_stub(r, stream, group, consumer, handle):
    raise NotImplementedError("Exercise 2.2: Survive a restart")


async def drain_with_xread(r, stream, group, consumer, handle):
    """Wrong: no group, reads only what arrives from now on ('$')."""
    reply = await r.xread({stream: "$"}, count=100, block=100)
    for _, fields in reply[0][1] if reply else []:
        handle(Event.from_json(fields["event"]))
    return 0


async def drain_no_ack(r, stream, group, consumer, handle):
    await ensure_group(r, stream, group)
    reply = await r.xreadgroup(group, consumer, {stream: ">"}, count=100)
    entries = reply[0][1] if reply else []
    for _, fields in entries:
        handle(Event.from_json(fields["event"]))
    return len(entries)


async def drain_ack_first(r, stream, group, consumer, handle):
    await ensure_group(r, stream, group)
    reply = await r.xreadgroup(group, consumer, {stream: ">"}, count=100)
    handled = 0
    for entry_id, fields in reply[0][1] if reply else []:
        await r.xack(stream, group, entry_id)
        try:
            handle(Event.from_json(fields["event"]))
            handled += 1
        except Exception:
            pass
    return handled


async def drain_from_zero(r, stream, group, consumer, handle):
    """Wrong: reads its own pending entries ('0') instead of new ones."""
    created = await ensure_group(r, stream, group)
    reply = await r.xreadgroup(group, consumer, {stream: ">" if created else "0"}, count=100)
    handled = 0
    for entry_id, fields in reply[0][1] if reply else []:
        handle(Event.from_json(fields["event"]))
        await r.xack(stream, group, entry_id)
        handled += 1
    return handled


async def drain_lets_it_raise(r, stream, group, consumer, handle):
    await ensure_group(r, stream, group)
    reply = await r.xreadgroup(group, consumer, {stream: ">"}, count=100)
    for entry_id, fields in reply[0][1] if reply else []:
        handle(Event.from_json(fields["event"]))
        await r.xack(stream, group, entry_id)
    return len(reply[0][1]) if reply else 0


async def drain_wrong_field(r, stream, group, consumer, handle):
    await ensure_group(r, stream, group)
    reply = await r.xreadgroup(group, consumer, {stream: ">"}, count=100)
    for _, fields in reply[0][1]:
        handle(Event.from_json(fields["payload"]))
    return 0


async def drain_one_read(r, stream, group, consumer, handle):
    """Wrong: one XREADGROUP and stop — a backlog bigger than `count` is left for later."""
    await ensure_group(r, stream, group)
    reply = await r.xreadgroup(group, consumer, {stream: ">"}, count=100)
    handled = 0
    for entry_id, fields in reply[0][1] if reply else []:
        try:
            handle(Event.from_json(fields["event"]))
        except Exception:
            continue
        await r.xack(stream, group, entry_id)
        handled += 1
    return handled


def _fixed(**names):
    async def wrong(r, stream, group, consumer, handle):
        return await drain(r, stream, names.get("group", group), names.get("consumer", consumer), handle)

    return wrong


drain_fixed_group = _fixed(group="ex22")  # the group name of the example, not the argument
drain_fixed_consumer = _fixed(consumer="worker")


async def drain_hands_over_json(r, stream, group, consumer, handle):
    """Wrong: gives handle() the raw JSON string."""
    await ensure_group(r, stream, group)
    handled = 0
    while reply := await r.xreadgroup(group, consumer, {stream: ">"}, count=100):
        if not reply[0][1]:
            break
        for entry_id, fields in reply[0][1]:
            try:
                handle(fields["event"])
            except Exception:
                continue
            await r.xack(stream, group, entry_id)
            handled += 1
    return handled


async def drain_reads_nogroup(r, stream, group, consumer, handle):
    """Crash: creates the group under one name and reads with another."""
    await ensure_group(r, stream, "workers")
    await r.xreadgroup(group, consumer, {stream: ">"}, count=100)
    return 0


async def drain_creates_every_time(r, stream, group, consumer, handle):
    """Crash: XGROUP CREATE on every run — BUSYGROUP the second time."""
    await r.xgroup_create(stream, group, id="0", mkstream=True)
    return await drain(r, stream, group, consumer, handle)


async def drain_blocks(r, stream, group, consumer, handle):
    """Crash: block=0 waits for ever once nothing is new."""
    await ensure_group(r, stream, group)
    handled = 0
    while True:
        reply = await r.xreadgroup(group, consumer, {stream: ">"}, count=100, block=0)
        for entry_id, fields in reply[0][1]:
            handle(Event.from_json(fields["event"]))
            await r.xack(stream, group, entry_id)
            handled += 1


async def test_2_2_passes_on_the_solution(capsys):
    await check_drain(drain)
    assert "✅ Exercise 2.2 passed" in capsys.readouterr().out


async def test_2_2_stub_is_not_done():
    with pytest.raises(ExerciseNotDone, match="Exercise 2.2 is not done yet"):
        await check_drain(drain_stub)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (drain_with_xread, "no group at all\\): create it at id '0'"),
        (drain_no_ack, "XACK each entry"),
        (drain_ack_first, "XACK only after handle\\(\\) returned"),
        (drain_from_zero, "read with '>'"),
        (
            drain_one_read,
            "handled 100 of a backlog of 250 new events and returned: .* read again until it returns nothing",
        ),
        (drain_fixed_group, "ignored its `group` argument"),
        (drain_fixed_consumer, "ignored its `consumer` argument"),
        (drain_hands_over_json, "handle\\(\\) was given '.*' \\(str\\), not an Event: .*Event.from_json"),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
async def test_2_2_wrong_answers_get_a_hint(wrong, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        await check_drain(wrong)


@pytest.mark.parametrize(
    "wrong, parts",
    [
        (
            drain_lets_it_raise,
            [
                "with a poison event that makes handle() raise raised ValueError: seq 99 is poison",
                "leave that entry pending",
            ],
        ),
        (drain_wrong_field, ["on a stream of 5 events raised KeyError: 'payload'"]),
        (drain_reads_nogroup, ["on a stream of 5 events raised ResponseError: NOGROUP", "create it first at id '0'"]),
        (
            drain_creates_every_time,
            ["after a restart, with 3 new events raised ResponseError: BUSYGROUP", "create it only when it is missing"],
        ),
        (drain_blocks, ["on a stream of 5 events raised TimeoutError", "block=0 waits for ever"]),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
async def test_2_2_a_crashing_answer_is_one_line(wrong, parts, capsys):
    await assert_async_check_one_line(check_drain, wrong, parts, capsys)
