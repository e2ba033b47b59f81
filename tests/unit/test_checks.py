"""``workshop.checks``: a ✅ for a right answer, a friendly hint for a stub or a wrong one."""

from __future__ import annotations

import asyncio

import pytest

from workshop.checks import (
    ExerciseCrashed,
    ExerciseFailed,
    ExerciseNotDone,
    check,
    expect,
    expect_equal,
    expect_isinstance,
    expect_raises,
    fail,
    passed,
    run_check,
    stub_guard,
)
from workshop.errors import WorkshopError


# A check as a chapter module would write it: it takes the learner's function and tries it.
@check("0.1")
def check_double(double) -> str:
    expect_equal("0.1", double(2), 4, hint="double(2) should be 4.", what="double(2)")
    expect_equal("0.1", double(-3), -6, hint="Negative numbers double too.", what="double(-3)")
    with expect_raises("0.1", TypeError, hint="double(None) should raise TypeError."):
        double(None)
    return "double() doubles"


def right(x):
    return x * 2


def stub(x):
    # YOUR CODE HERE
    raise NotImplementedError("Exercise 0.1: Double it")


def wrong_square(x):
    return x * x  # right for 2, wrong for -3


def wrong_swallows(x):
    return 0 if x is None else x * 2


def test_right_answer_prints_the_pass_line(capsys: pytest.CaptureFixture) -> None:
    check_double(right)
    assert capsys.readouterr().out == "✅ Exercise 0.1 passed — double() doubles\n"


def test_stub_gives_not_done_yet(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(ExerciseNotDone) as info:
        check_double(stub)
    message = str(info.value)
    assert message.startswith("Exercise 0.1 is not done yet: fill in the code under `# YOUR CODE HERE`")
    assert "(Exercise 0.1: Double it)" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no chained stub traceback
    assert capsys.readouterr().out == ""


def test_not_done_is_an_assertion_a_not_implemented_and_a_workshop_error() -> None:
    with pytest.raises(ExerciseNotDone) as info:
        check_double(stub)
    assert isinstance(info.value, AssertionError)  # pytest/nbval: a failed check
    assert isinstance(info.value, NotImplementedError)  # still "the stub is not filled in"
    assert isinstance(info.value, WorkshopError)  # Jupyter shows one line


def test_plausible_wrong_answer_gets_a_hint_with_both_values() -> None:
    with pytest.raises(ExerciseFailed) as info:
        check_double(wrong_square)
    assert str(info.value) == "Exercise 0.1: expected double(-3) to be -6, got 9. Negative numbers double too."
    assert info.value.exercise_id == "0.1"


def test_missing_exception_is_reported() -> None:
    with pytest.raises(
        ExerciseFailed, match=r"expected TypeError to be raised, but nothing was raised\. double\(None\)"
    ):
        check_double(wrong_swallows)


def test_wrong_exception_is_reported_with_its_type_and_message() -> None:
    def wrong_error(x):
        if x is None:
            raise ValueError("no None please")
        return x * 2

    with pytest.raises(ExerciseFailed, match=r"expected TypeError, but ValueError: no None please was raised"):
        check_double(wrong_error)


def test_expect_raises_keeps_the_exception_and_lets_stubs_through() -> None:
    with expect_raises("1.1", KeyError) as caught:
        {}["x"]
    assert isinstance(caught.exception, KeyError)
    with pytest.raises(NotImplementedError):
        with expect_raises("1.1", KeyError):
            raise NotImplementedError("Exercise 1.1")


def test_expect_equal_names_a_type_mismatch() -> None:
    with pytest.raises(ExerciseFailed, match=r"expected the result to be 1, got '1' \(a str\)\.$"):
        expect_equal("2.1", "1", 1)


def test_long_values_are_shortened() -> None:
    with pytest.raises(ExerciseFailed) as info:
        expect_equal("2.1", "x" * 10_000, "y")
    assert len(str(info.value)) < 300


def test_expect_isinstance_and_expect_and_fail() -> None:
    expect_isinstance("2.2", 3, int)
    with pytest.raises(ExerciseFailed, match=r"expected the event to be a dict or a list, got 3 \(an int\)\. Return"):
        expect_isinstance("2.2", 3, (dict, list), hint="Return the parsed JSON.", what="the event")
    expect("2.3", True, "never shown")
    with pytest.raises(ExerciseFailed, match=r"^Exercise 2\.3: hint$"):
        expect("2.3", [], "hint")
    with pytest.raises(ExerciseFailed, match=r"^Exercise 2\.4: stop$"):
        fail("2.4", "stop")


def test_passed_without_message(capsys: pytest.CaptureFixture) -> None:
    passed("5.1")
    assert capsys.readouterr().out == "✅ Exercise 5.1 passed\n"


def test_a_crash_the_check_did_not_expect_is_still_one_line() -> None:
    def broken(x):
        return x.nope

    with pytest.raises(ExerciseCrashed) as info:
        check_double(broken)
    message = str(info.value)
    assert message.startswith("Exercise 0.1: your code raised AttributeError: 'int' object has no attribute 'nope'")
    assert "(in broken, line " in message and "\n" not in message
    assert isinstance(info.value.error, AttributeError)  # kept for debugging…
    assert info.value.__cause__ is None and info.value.__suppress_context__  # …but not shown


def test_stub_guard_leaves_verdicts_alone() -> None:
    with pytest.raises(ExerciseFailed) as info:
        with stub_guard("1.1"):
            fail("1.1", "wrong")
    assert not isinstance(info.value, ExerciseNotDone)


def test_run_check_without_the_decorator(capsys: pytest.CaptureFixture) -> None:
    assert run_check("0.2", lambda f: expect_equal("0.2", f(1), 2), right) is None
    assert capsys.readouterr().out == "✅ Exercise 0.2 passed\n"
    with pytest.raises(ExerciseNotDone, match="Exercise 0.2 is not done yet"):
        run_check("0.2", lambda f: f(1), stub)


# --- async: checks awaited at the top level of a notebook --------------------------------------


@check("3.1")
async def check_fetch(fetch) -> str:
    value = await fetch("answer")
    expect_equal("3.1", value, 42, hint="fetch('answer') should return the stored 42.")
    return "fetch() awaits the store"


async def fetch_right(key):
    await asyncio.sleep(0)
    return {"answer": 42}[key]


async def fetch_stub(key):
    raise NotImplementedError("Exercise 3.1: Fetch")


async def fetch_wrong(key):
    return "42"


async def test_async_check_passes(capsys: pytest.CaptureFixture) -> None:
    await check_fetch(fetch_right)
    assert capsys.readouterr().out == "✅ Exercise 3.1 passed — fetch() awaits the store\n"


async def test_async_check_on_stub_and_wrong_answer() -> None:
    with pytest.raises(ExerciseNotDone, match=r"Exercise 3\.1 is not done yet.*\(Exercise 3\.1: Fetch\)"):
        await check_fetch(fetch_stub)
    with pytest.raises(ExerciseFailed, match=r"got '42' \(a str\)"):
        await check_fetch(fetch_wrong)


async def test_async_expect_raises_around_await() -> None:
    async def boom():
        raise KeyError("k")

    with expect_raises("3.2", KeyError):
        await boom()


def test_run_check_with_an_async_check_returns_an_awaitable(capsys: pytest.CaptureFixture) -> None:
    async def body(fetch):
        expect_equal("3.1", await fetch("answer"), 42)

    pending = run_check("3.1", body, fetch_right)
    assert capsys.readouterr().out == ""  # nothing until awaited
    asyncio.run(pending)
    assert capsys.readouterr().out == "✅ Exercise 3.1 passed\n"


def test_decorated_checks_remember_their_exercise() -> None:
    assert check_double.exercise_id == "0.1"
    assert check_fetch.exercise_id == "3.1"
    assert asyncio.iscoroutinefunction(check_fetch)
