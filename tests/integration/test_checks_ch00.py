"""The warm-up's checks pass on the solution and fail, with a hint, on the stub and on wrong answers."""

import json

import pytest

from tests.one_line import assert_async_check_one_line
from workshop.checks import ExerciseFailed, ExerciseNotDone
from workshop.checks.ch00 import check_publish, check_read_back
from workshop.events import Event


async def publish(r, stream, event):
    return await r.xadd(stream, {"event": event.to_json()})


async def read_back(r, stream):
    return [Event.from_json(fields["event"]) for _, fields in await r.xrange(stream)]


async def stub(*args):
    raise NotImplementedError("Exercise 0.1: Publish an event")


async def test_solutions_pass(capsys):
    await check_publish(publish)
    await check_read_back(read_back)
    out = capsys.readouterr().out
    assert "✅ Exercise 0.1 passed" in out and "✅ Exercise 0.2 passed" in out


async def test_stubs_say_not_done():
    with pytest.raises(ExerciseNotDone, match="Exercise 0.1 is not done yet"):
        await check_publish(stub)
    with pytest.raises(ExerciseNotDone, match="Exercise 0.2 is not done yet"):
        await check_read_back(stub)


async def publish_str(r, stream, event):  # str(event) is a dataclass repr, not JSON
    return await r.xadd(stream, {"event": str(event)})


async def publish_data_only(r, stream, event):  # loses the envelope
    return await r.xadd(stream, {"event": json.dumps(event.data)})


async def publish_other_field(r, stream, event):
    return await r.xadd(stream, {"payload": event.to_json()})


async def publish_fixed_stream(r, stream, event):  # the example's key, not the argument
    try:
        return await r.xadd(f"{stream}-mine", {"event": event.to_json()})
    finally:
        await r.delete(f"{stream}-mine")


async def publish_returns_nothing(r, stream, event):
    await r.xadd(stream, {"event": event.to_json()})


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (publish_str, "not the event's JSON"),
        (publish_data_only, r"not the event's JSON .*not only event.data"),
        (publish_other_field, "field named 'event'"),
        (publish_fixed_stream, "ignored its `stream` argument"),
        (publish_returns_nothing, r"return the entry id that XADD gives back .* got \[None, None\]"),
    ],
)
async def test_wrong_publish_gets_a_hint(wrong, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        await check_publish(wrong)


async def read_dicts(r, stream):  # forgot to parse
    return [json.loads(fields["event"]) for _, fields in await r.xrange(stream)]


async def read_newest_first(r, stream):
    return [Event.from_json(fields["event"]) for _, fields in await r.xrevrange(stream)]


async def read_first_page(r, stream):  # one XRANGE with a count: a long stream is cut
    return [Event.from_json(fields["event"]) for _, fields in await r.xrange(stream, count=100)]


async def read_fixed_stream(r, stream):  # the example's key, not the argument
    return [Event.from_json(fields["event"]) for _, fields in await r.xrange("events:user-1")]


async def read_crashes_when_empty(r, stream):
    entries = await r.xrange(stream)
    first = Event.from_json(entries[0][1]["event"])
    return [first] + [Event.from_json(fields["event"]) for _, fields in entries[1:]]


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (read_dicts, "Event.from_json"),
        (read_newest_first, "oldest entry first"),
        (read_first_page, "returned 100: XRANGE with count= gives only the first"),
        (read_fixed_stream, "read the stream you were given"),
    ],
)
async def test_wrong_read_back_gets_a_hint(wrong, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        await check_read_back(wrong)


# --- crashing answers: one line naming the exercise, the input, what was raised, a hint ---------


async def publish_the_object(r, stream, event):  # Redis stores strings, not Events
    return await r.xadd(stream, {"event": event})


async def publish_forgets_await(r, stream, event):
    return r.xadd(stream, {"event": event.to_json()})  # a coroutine, not the entry id


async def publish_wrong_field(r, stream, event):
    return await r.xadd(stream, {"event": event.to_json(), "name": event.data["name"]})  # KeyError on the 2nd


async def read_forgets_await(r, stream):
    return [Event.from_json(fields["event"]) for _, fields in r.xrange(stream)]


async def read_wrong_key(r, stream):
    return [Event.from_json(fields["payload"]) for _, fields in await r.xrange(stream)]


async def read_whole_fields(r, stream):
    return [Event.from_json(fields) for _, fields in await r.xrange(stream)]  # TypeError: a dict, not a str


@pytest.mark.parametrize(
    "check_fn, wrong, parts",
    [
        (
            check_publish,
            publish_the_object,
            [
                "publish(r, stream, UserCreated event) raised DataError: Invalid input of type: 'Event'",
                "hand over event.to_json() instead of the Event itself",
            ],
        ),
        (
            check_publish,
            publish_forgets_await,
            ["publish(r, stream, UserCreated event) returned a coroutine", "did you forget `await`"],
        ),
        (
            check_publish,
            publish_wrong_field,
            ["publish(r, stream, EmailUpdated event) raised KeyError: 'name' (in publish_wrong_field, line "],
        ),
        (
            check_read_back,
            read_forgets_await,
            [
                "read_back(r, stream) on a stream of 3 events raised TypeError: 'coroutine' object is not iterable",
                "did you forget `await`",
                "await r.xrange(stream)",
            ],
        ),
        (check_read_back, read_wrong_key, ["read_back(r, stream) on a stream of 3 events raised KeyError: 'payload'"]),
        (check_read_back, read_whole_fields, ["read_back(r, stream) on a stream of 3 events raised TypeError:"]),
        (
            check_read_back,
            read_crashes_when_empty,
            ["read_back(r, stream) on a stream that does not exist raised IndexError", "XRANGE gives [], so return []"],
        ),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
async def test_a_crashing_answer_is_one_line(check_fn, wrong, parts, capsys):
    await assert_async_check_one_line(check_fn, wrong, parts, capsys)
