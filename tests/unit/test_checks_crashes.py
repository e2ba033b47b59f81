"""A learner's code that crashes inside a check gives ONE line: exercise, input tried, what was raised, a hint.

One crashing wrong answer per exercise of chapters 1 and 3 (chapter 0 needs Redis:
tests/integration/test_checks_ch00.py), plus the pieces in ``workshop.checks.crashes``.
"""

from __future__ import annotations

import json
import warnings

import pytest
from redis.exceptions import DataError

from tests.one_line import assert_async_check_one_line, assert_one_line
from workshop import users
from workshop.checks import ExerciseCrashed, ExerciseFailed, acall, call, ch01, ch03, check, run_check, trying
from workshop.checks.crashes import FORGOT_AWAIT, explain, known_hint, learner_frame, summary
from workshop.events import Event
from workshop.store.aggregate import fold

# --- chapter 1 ---------------------------------------------------------------------------


def reserve_wrong_key(stock, payment):
    return {}, payment.data["lines"]  # KeyError: the items are under 'items'


def reserve_attribute(stock, payment):
    return {i.sku: stock[i.sku] - i.qty for i in payment.data["items"]}, None  # items are dicts


async def reserve_async(stock, payment):  # async def where a plain function is asked for
    return {}, None


def idempotent_attribute(handler, seen):
    async def once(event, delivery):
        if event.id in seen:  # AttributeError: it is event.event_id
            return
        await handler(event, delivery)

    return once


def idempotent_list_api(handler, seen):
    async def once(event, delivery):
        if event.event_id not in seen:
            await handler(event, delivery)
            seen.append(event.event_id)  # AttributeError: seen is a set

    return once


def idempotent_forgets_await(handler, seen):
    async def once(event, delivery):
        if event.event_id not in seen:
            handler(event, delivery)  # no await: the charge never happens
            seen.add(event.event_id)

    return once


def next_step_by_name(attempt, error, policy):
    return {"SchemaError": ("dead-letter", "invalid")}[type(error).__name__]  # KeyError for the rest


def next_step_typo(attempt, error, policy):
    return ("retry", policy.first_delay * attempt)  # AttributeError: it is initial_delay


# --- chapter 3 ---------------------------------------------------------------------------


def evolve_every_event_renames(state, event):
    return {**users.evolve(state, event), "name": f"{event.data['first_name']} {event.data['last_name']}"}


def state_as_of_compares_strings(events, when, evolve):
    return fold(evolve, [e for e in events if e.timestamp <= when])  # TypeError: str <= datetime


def upcast_two_words(data):
    parts = data["name"].split(" ")
    return {"first_name": parts[0], "last_name": parts[1], "email": data["email"]}  # IndexError for 'Cher'


def snapshot_index(old_version, new_version):
    return range(old_version + 1, new_version + 1).index(100) >= 0  # ValueError when 100 is not crossed


async def retry_forgets_await(store, stream_id, decide, evolve, attempts=5):
    events = store.read(stream_id)  # a coroutine
    return await store.append(stream_id, decide(fold(evolve, events)), len(events))


async def retry_wrong_method(store, stream_id, decide, evolve, attempts=5):
    return await store.load(stream_id)  # AttributeError


SYNC_CRASHES = [
    (
        ch01.check_reserve,
        reserve_wrong_key,
        [
            "reserve({'BOOK': 5, 'MUG': 1, 'LAMP': 7}, the payment for 2 BOOK + 1 MUG)",
            "raised KeyError: 'lines'",
            "in reserve_wrong_key",
            "payment.data['items'] is a list",
        ],
    ),
    (
        ch01.check_reserve,
        reserve_attribute,
        ["reserve({'BOOK': 5, ", "raised AttributeError: 'dict' object has no attribute 'sku'"],
    ),
    (ch01.check_reserve, reserve_async, ["reserve({'BOOK': 5, ", "returned a coroutine", "plain `def`"]),
    (
        ch01.check_next_step,
        next_step_by_name,
        ["next_step(1, RuntimeError('database timeout'), policy)", "raised KeyError: 'RuntimeError'", "max_attempts"],
    ),
    (
        ch01.check_next_step,
        next_step_typo,
        [
            "next_step(1, RuntimeError('database timeout'), policy)",
            "raised AttributeError: 'RetryPolicy' object has no attribute 'first_delay'",
        ],
    ),
    (
        ch03.check_evolve_renamed,
        evolve_every_event_renames,
        [
            "evolve_every_event_renames({'id': 'user-1', 'name': 'Alice Liddell', ",
            "Event('EmailUpdated', 'user-1', …))",
            "raised KeyError: 'first_name'",
            "evolve() is called with every event type",
        ],
    ),
    (
        ch03.check_state_as_of,
        state_as_of_compares_strings,
        [
            "state_as_of(events, 2023-12-31 09:00 UTC, users.evolve)",
            "raised TypeError: '<=' not supported",
            "event.when, a datetime",
        ],
    ),
    (
        ch03.check_upcaster,
        upcast_two_words,
        [
            "upcast_two_words({'name': 'Cher', 'email': 'x@example.com'})",
            "raised IndexError: list index out of range",
            "a name can be a single word",
        ],
    ),
    (
        ch03.check_snapshot_policy,
        snapshot_index,
        ["snapshot_index(0, 1)", "raised ValueError: 100 is not in range", "(in snapshot_index, line "],
    ),
]


@pytest.mark.parametrize("check_fn,wrong,parts", SYNC_CRASHES, ids=[w.__name__ for _, w, _ in SYNC_CRASHES])
def test_a_crashing_answer_is_one_line(check_fn, wrong, parts, capsys):
    with pytest.raises(ExerciseFailed) as info:
        check_fn(wrong)
    assert_one_line(info.value, check_fn.exercise_id, *parts)
    assert capsys.readouterr() == ("", "")  # nothing else printed either


ASYNC_CRASHES = [
    (
        ch01.check_idempotent,
        idempotent_attribute,
        [
            "your handler(OrderCreated for ORD-1, delivery)",
            "raised AttributeError: 'Event' object has no attribute 'id'",
        ],
    ),
    (ch01.check_idempotent, idempotent_list_api, ["raised AttributeError: 'set' object has no attribute 'append'"]),
    (
        ch01.check_idempotent,
        idempotent_forgets_await,
        ["a coroutine (charge) was never awaited", "did you forget an `await`?"],
    ),
    (
        ch03.check_append_with_retry,
        retry_forgets_await,
        [
            "append_with_retry(store, 'user-1', decide, evolve)",
            "raised TypeError: 'coroutine' object is not iterable",
            FORGOT_AWAIT,
            "await store.read(stream_id)",
        ],
    ),
    (
        ch03.check_append_with_retry,
        retry_wrong_method,
        ["append_with_retry(store, 'user-1', decide, evolve)", "raised AttributeError:", "'load'"],
    ),
]


@pytest.mark.parametrize("check_fn,wrong,parts", ASYNC_CRASHES, ids=[w.__name__ for _, w, _ in ASYNC_CRASHES])
async def test_a_crashing_async_answer_is_one_line(check_fn, wrong, parts, capsys):
    await assert_async_check_one_line(check_fn, wrong, parts, capsys)


# --- the pieces ------------------------------------------------------------------------------


def test_call_names_the_input_and_passes_a_result_through():
    assert call("9.1", lambda x: x + 1, 1) == 2
    with pytest.raises(ExerciseCrashed) as info:
        call("9.1", upcast_two_words, {"name": "Cher", "email": "c@example.com"}, hint="one word")
    message = assert_one_line(
        info.value,
        "9.1",
        "upcast_two_words({'name': 'Cher', 'email': 'c@example.com'}) "
        "raised IndexError: list index out of range (in upcast_two_words, "
        "line ",
    )
    assert message.endswith(" — one word")
    assert isinstance(info.value.error, IndexError) and info.value.attempt.startswith("upcast_two_words(")


def test_long_arguments_and_messages_are_cut_short():
    def boom(text):
        raise ValueError("x" * 5000)

    with pytest.raises(ExerciseCrashed) as info:
        call("9.2", boom, "y" * 5000)
    assert len(str(info.value)) < 400


async def test_acall_awaits_and_spots_a_returned_coroutine():
    async def right(x):
        return x * 2

    async def inner():
        return 1

    async def forgot(x):
        return inner()  # no await

    assert await acall("9.3", right, 2) == 4
    assert await acall("9.3", lambda x: x, 5) == 5  # a plain function is fine too
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a "never awaited" warning would fail the test
        with pytest.raises(ExerciseFailed) as info:
            await acall("9.3", forgot, 2, shown="forgot(2)")
    assert_one_line(info.value, "9.3", "forgot(2) returned a coroutine, not its result", "forget `await`")


def test_trying_lets_verdicts_stubs_allowed_errors_and_ctrl_c_through():
    with pytest.raises(NotImplementedError):
        with trying("9.4", "f()"):
            raise NotImplementedError("Exercise 9.4")
    with pytest.raises(ExerciseFailed, match="^Exercise 9.4: mine$"):
        with trying("9.4", "f()"):
            raise ExerciseFailed("9.4", "mine")
    with pytest.raises(ConnectionError):
        with trying("9.4", "f()", allow=(ConnectionError,)):
            raise ConnectionError("expected by the check")
    with pytest.raises(KeyboardInterrupt):
        with trying("9.4", "f()"):
            raise KeyboardInterrupt


def test_the_object_that_needed_to_json_is_recognised_by_name():
    redis_error = DataError("Invalid input of type: 'Event'. Convert to a bytes, string, int or float first.")
    assert "event.to_json()" in known_hint(redis_error)
    event = Event("UserCreated", "u-1", {})
    with pytest.raises(TypeError) as info:
        json.dumps({"event": event})
    assert "event.to_json()" in known_hint(info.value)
    assert "convert it to a string" in known_hint(DataError("Invalid input of type: 'Decimal'."))


def test_a_forgotten_await_is_recognised_by_name():
    assert known_hint(TypeError("'coroutine' object is not subscriptable")) == FORGOT_AWAIT
    assert known_hint(AttributeError("'coroutine' object has no attribute 'decode'")) == FORGOT_AWAIT
    assert known_hint(DataError("Invalid input of type: 'coroutine'.")) == FORGOT_AWAIT
    assert known_hint(KeyError("name")) is None


def test_summary_and_where():
    assert summary(KeyError("name")) == "KeyError: 'name'"
    assert summary(ValueError("two\n  lines")) == "ValueError: two lines"
    assert summary(StopIteration()) == "StopIteration"
    try:
        upcast_two_words({"name": "Cher", "email": ""})
    except IndexError as exc:
        name, line = learner_frame(exc.__traceback__)
        assert name == "upcast_two_words" and line > 0
        assert explain(exc, "hint").startswith("IndexError: list index out of range (in upcast_two_words, line ")
    try:
        {}.__getitem__("x")  # raised inside a builtin: the innermost learner frame is this test
    except KeyError as exc:
        assert learner_frame(exc.__traceback__)[0] == "test_summary_and_where"


def test_whatever_escapes_a_check_is_one_line_too():
    @check("9.5")
    def check_unguarded(fn) -> str:
        return fn()["total"]  # learner code called without call(): run_check still catches it

    with pytest.raises(ExerciseCrashed) as info:
        check_unguarded(lambda: {})
    assert_one_line(info.value, "9.5", "your code raised KeyError: 'total' (in check_unguarded, line ")
    with pytest.raises(ExerciseCrashed) as info:  # raised where no learner code is: the stdlib
        run_check("9.5", json.loads, "{")
    assert_one_line(info.value, "9.5", "the check stopped on JSONDecodeError: Expecting property name")


def test_service_unavailable_keeps_its_own_line():
    from workshop.errors import ServiceUnavailable

    @check("9.6")
    def check_down(fn) -> str:
        raise ServiceUnavailable("Redis", "redis://127.0.0.1:1/0", "connection refused", fix="start it")

    with pytest.raises(ServiceUnavailable):
        check_down(None)
