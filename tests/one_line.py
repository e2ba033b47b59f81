"""Assert that a check turned a learner's crash into one line (shared by the checks' crash tests)."""

from __future__ import annotations

import traceback
import warnings

from workshop.checks import ExerciseFailed


def assert_one_line(error: BaseException, exercise_id: str, *parts: str) -> str:
    """``error`` is a check's one-line verdict naming the exercise and every one of ``parts``; returns it."""
    assert isinstance(error, ExerciseFailed), f"not a check verdict: {error!r}"
    message = str(error)
    assert "\n" not in message, f"more than one line: {message!r}"
    assert message.startswith(f"Exercise {exercise_id}: "), message
    for part in parts:
        assert part in message, f"{part!r} missing from {message!r}"
    assert "Traceback" not in message and 'File "' not in message, message
    # what Python would print for it: nothing chained ("During handling of the above exception …")
    assert error.__cause__ is None, "the learner's error must not be chained"
    assert error.__context__ is None or error.__suppress_context__, "the learner's error must not be shown"
    shown = "".join(traceback.format_exception(error))
    assert "During handling" not in shown and "direct cause" not in shown
    return message


async def assert_async_check_one_line(check_fn, wrong, parts: list[str], capsys) -> str:
    """``await check_fn(wrong)`` fails with one line naming ``parts``; nothing printed, no 'never awaited' warning."""
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        try:
            await check_fn(wrong)
        except ExerciseFailed as exc:
            error = exc
        else:
            raise AssertionError(f"{check_fn.__name__}({wrong.__name__}) passed")
    message = assert_one_line(error, check_fn.exercise_id, *parts)
    assert capsys.readouterr() == ("", "")
    assert not [w for w in shown if "never awaited" in str(w.message)], "the one line says it: no extra warning"
    return message
