"""Exercise checks: a ✅ when an exercise is right, a hint when it is not.

A check takes the learner's work (a function, a class, an object), tries it,
and either prints ``✅ Exercise 0.1 passed — …`` or raises
:class:`ExerciseFailed` with a hint. Raising matters: "Run all" and nbval stop
at a failed check. Each chapter's checks live in ``workshop/checks/chNN.py``::

    from workshop.checks import check, expect_equal

    @check("3.2")
    def check_evolve(evolve) -> str:
        state = evolve({}, {"type": "OrderPlaced", "total": 10})
        expect_equal("3.2", state.get("total"), 10, hint="evolve() copies the total into the state")
        return "evolve() applies an event to the state"

The notebook then runs ``check_evolve(evolve)`` — or ``await check_x(...)``
when the check is ``async def``. While the learner's cell still holds the
stub, the check says "Exercise 3.2 is not done yet" instead of a traceback.
Tests call the same check with a right and a wrong implementation.

When the learner's code *crashes* the learner sees one line, never a
traceback. A check calls learner code through :func:`call` (or ``await``
:func:`acall`, or a ``with trying(...)`` block), which names the input tried::

    got = call("3.3", upcast_v1, {"name": "Cher"}, hint="a name can be a single word")
    # Exercise 3.3: upcast_v1({'name': 'Cher'}) raised IndexError: list index out of range
    #   (in upcast_v1, line 2) — a name can be a single word

and :func:`run_check` turns anything else that escapes into one line too.

Each verdict (passed, failed, crashed — not "not done yet") is also recorded as an
``ExerciseChecked`` event in the learner's progress stream
(:mod:`workshop.checks.progress`); a recording that fails costs one line, never the verdict.
A forgotten ``await`` and an ``Event`` handed to Redis without ``.to_json()``
are recognised by name (:mod:`workshop.checks.crashes`).
"""

from __future__ import annotations

import functools
import inspect
import reprlib
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from workshop.checks import progress
from workshop.checks.crashes import (
    FORGOT_AWAIT,
    close_coroutines,
    explain,
    learner_frame,
    summary,
    unawaited_note,
    unawaited_recorded,
)
from workshop.errors import ServiceUnavailable, WorkshopError

__all__ = [
    "ExerciseCrashed",
    "ExerciseFailed",
    "ExerciseNotDone",
    "Hint",
    "acall",
    "call",
    "check",
    "expect",
    "expect_equal",
    "expect_isinstance",
    "expect_raises",
    "fail",
    "one_line",
    "passed",
    "run_check",
    "short",
    "stub_guard",
    "trying",
]


class _Repr(reprlib.Repr):
    """``reprlib`` that keeps a dict's own order and shows an event by its type and stream."""

    def repr_dict(self, x: dict, level: int) -> str:
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        items = [f"{self.repr1(k, level - 1)}: {self.repr1(v, level - 1)}" for k, v in list(x.items())[: self.maxdict]]
        return "{" + ", ".join(items + (["..."] if len(x) > self.maxdict else [])) + "}"

    def repr_Event(self, x: Any, level: int) -> str:  # noqa: N802 — reprlib looks methods up by type name
        return f"Event({x.event_type!r}, {x.aggregate_id!r}, …)"

    def repr_ndarray(self, x: Any, level: int) -> str:  # numpy's own repr spans many lines
        return f"an array of shape {tuple(x.shape)} ({x.dtype})"

    def repr_instance(self, x: Any, level: int) -> str:
        """Objects without a readable repr (``<…object at 0x7f…>``) are shown by their type."""
        text = super().repr_instance(x, level)
        if " at 0x" in text or "\n" in text:
            return f"<{type(x).__name__}>"
        return text


def _limits(maxstring: int, maxitems: int) -> _Repr:
    r = _Repr()
    r.maxstring = r.maxother = maxstring
    r.maxlist = r.maxdict = r.maxtuple = r.maxset = maxitems
    return r


_repr = _limits(120, 8)  # values compared in a hint
_arg_repr = _limits(50, 4)  # arguments named in "f(…) raised …"


class ExerciseFailed(WorkshopError, AssertionError):
    """An exercise's answer is not right yet; the message is the hint.

    An ``AssertionError`` (so pytest and nbval see a failed check) and a
    :class:`~workshop.errors.WorkshopError` (so Jupyter shows one line).
    """

    def __init__(self, exercise_id: str, hint: str) -> None:
        self.exercise_id, self.hint = exercise_id, one_line(hint)
        super().__init__(f"Exercise {exercise_id}: {self.hint}")


class ExerciseCrashed(ExerciseFailed):
    """The learner's code raised while the check tried it: one line with the input, the error and a hint.

    ``error`` keeps what was raised (for debugging); it is not chained, so no traceback is shown.
    """

    def __init__(self, exercise_id: str, error: BaseException, attempt: str = "", hint: str = "") -> None:
        self.attempt, self.error = attempt, error
        if attempt:
            head = f"{attempt} raised"
        else:
            head = "your code raised" if learner_frame(error.__traceback__) else "the check stopped on"
        super().__init__(exercise_id, f"{head} {explain(error, hint)}")


class ExerciseNotDone(ExerciseFailed, NotImplementedError):
    """The learner's code still raises the stub's ``NotImplementedError``."""

    def __init__(self, exercise_id: str, detail: str = "") -> None:
        self.exercise_id, self.hint = exercise_id, detail
        more = f" ({detail})" if detail else ""
        Exception.__init__(
            self,
            f"Exercise {exercise_id} is not done yet: fill in the code under `# YOUR CODE HERE`"
            f" above, run that cell, then this one again{more}",
        )


def one_line(text: str) -> str:
    """``text`` on one line: a hint is read at a glance, never scrolled."""
    return " ".join(text.split())


Hint = str | Callable[[BaseException], str]


def _hint_for(hint: Hint, exc: BaseException) -> str:
    """A crash hint may depend on what was raised: the check knows which of its steps failed."""
    return hint(exc) if callable(hint) else hint


def passed(exercise_id: str, message: str = "") -> None:
    """Print the success line: ``✅ Exercise 0.1 passed — message``."""
    print(f"✅ Exercise {exercise_id} passed" + (f" — {message}" if message else ""))


def fail(exercise_id: str, hint: str) -> NoReturn:
    """Stop the check with ``hint``."""
    raise ExerciseFailed(exercise_id, hint)


def expect(exercise_id: str, condition: object, hint: str) -> None:
    """Fail with ``hint`` unless ``condition`` is true."""
    if not condition:
        fail(exercise_id, hint)


def short(value: object) -> str:
    """``value``'s repr, shortened for a one-line hint (long strings and lists cut with '…')."""
    return _repr.repr(value)


_show = short


def _a(name: str) -> str:
    """``a str``, ``an int``."""
    return f"an {name}" if name[:1].lower() in "aeiou" else f"a {name}"


def expect_equal(exercise_id: str, got: object, expected: object, hint: str = "", what: str = "the result") -> None:
    """Fail unless ``got == expected``; the message shows both values, then ``hint``."""
    if got == expected:
        return
    shown = _show(got)
    if type(got) is not type(expected):
        shown += f" ({_a(type(got).__name__)})"
    message = f"expected {what} to be {_show(expected)}, got {shown}."
    fail(exercise_id, f"{message} {hint}".strip())


def expect_isinstance(
    exercise_id: str, got: object, cls: type | tuple[type, ...], hint: str = "", what: str = "the result"
) -> None:
    """Fail unless ``got`` is an instance of ``cls``."""
    if isinstance(got, cls):
        return
    names = " or ".join(_a(c.__name__) for c in (cls if isinstance(cls, tuple) else (cls,)))
    got_type = _a(type(got).__name__)
    fail(exercise_id, f"expected {what} to be {names}, got {_show(got)} ({got_type}). {hint}".strip())


class expect_raises:  # noqa: N801 — used like a function: ``with expect_raises(...):``
    """Context manager: the block must raise ``exc_type`` (works around ``await`` too).

    ``with expect_raises("3.3", ConcurrencyError, hint="…") as caught: …``;
    afterwards ``caught.exception`` is the exception. A stub's
    ``NotImplementedError`` passes through, so the check reports "not done yet".
    """

    def __init__(self, exercise_id: str, exc_type: type[BaseException], hint: str = "") -> None:
        self.exercise_id, self.exc_type, self.hint = exercise_id, exc_type, hint
        self.exception: BaseException | None = None

    def __enter__(self) -> expect_raises:
        return self

    def __exit__(self, etype: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        name = self.exc_type.__name__
        if exc is None:
            fail(self.exercise_id, f"expected {name} to be raised, but nothing was raised. {self.hint}".strip())
        if isinstance(exc, self.exc_type):
            self.exception = exc
            return True  # swallowed: it was expected
        if isinstance(exc, (NotImplementedError, ExerciseFailed)) or not isinstance(exc, Exception):
            return False  # stubs, other checks' verdicts, KeyboardInterrupt: let them through
        raise ExerciseFailed(
            self.exercise_id, f"expected {name}, but {summary(exc)} was raised. {self.hint}".strip()
        ) from None


@contextmanager
def stub_guard(exercise_id: str) -> Iterator[None]:
    """Turn a stub's ``NotImplementedError`` raised in the block into :class:`ExerciseNotDone`."""
    try:
        yield
    except ExerciseFailed:
        raise
    except NotImplementedError as exc:
        raise ExerciseNotDone(exercise_id, str(exc)) from None


def _crashed(exc: BaseException) -> bool:
    """An error of the learner's code — not a verdict, a stub, a service that is down, or Ctrl-C."""
    return isinstance(exc, Exception) and not isinstance(exc, (ExerciseFailed, NotImplementedError, ServiceUnavailable))


@contextmanager
def trying(
    exercise_id: str, attempt: str, hint: Hint = "", allow: tuple[type[BaseException], ...] = ()
) -> Iterator[None]:
    """Run learner code in the block; if it crashes, fail with one line naming ``attempt`` (``"f(1, 2)"``).

    Without an ``attempt`` the line says "your code raised …" and where. Exceptions
    in ``allow`` are the check's business (it catches them itself): they pass through.

    Works around ``await`` too. A stub's ``NotImplementedError`` and the checks' own
    verdicts pass through. When the error is recognised (a forgotten ``await``, an
    ``Event`` that needed ``.to_json()``) that advice comes first, ``hint`` after it.
    """
    with unawaited_recorded(), _one_line(exercise_id, attempt, hint, allow):
        yield


@contextmanager
def _one_line(
    exercise_id: str, attempt: str, hint: Hint = "", allow: tuple[type[BaseException], ...] = ()
) -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        if not _crashed(exc) or isinstance(exc, allow):
            raise
        close_coroutines(exc)
        raise ExerciseCrashed(exercise_id, exc, attempt, _hint_for(hint, exc)) from None


def _call_text(fn: Callable[..., Any], args: tuple, kwargs: dict) -> str:
    shown = [_arg_repr.repr(a) for a in args] + [f"{k}={_arg_repr.repr(v)}" for k, v in kwargs.items()]
    return f"{getattr(fn, '__name__', 'your function')}({', '.join(shown)})"


def call(
    exercise_id: str,
    fn: Callable[..., Any],
    *args: Any,
    hint: Hint = "",
    shown: str = "",
    allow: tuple[type[BaseException], ...] = (),
    **kwargs: Any,
) -> Any:
    """``fn(*args, **kwargs)`` for a plain (not async) exercise; a crash becomes one line naming the call.

    ``shown`` replaces the generated ``fn(args…)`` text when the arguments are unwieldy;
    ``allow`` lists exceptions the check expects and catches itself; ``hint`` may be a
    function of the exception (``lambda exc: …``) when the likely cause depends on it.
    """
    attempt = shown or _call_text(fn, args, kwargs)
    with trying(exercise_id, attempt, hint, allow):
        result = fn(*args, **kwargs)
    if inspect.isawaitable(result):
        close_coroutines(value=result)
        fail(
            exercise_id,
            f"{attempt} returned a coroutine, not a value: write it as a plain `def`, "
            "without `async` — nothing in this exercise needs awaiting.",
        )
    return result


async def acall(
    exercise_id: str,
    fn: Callable[..., Any],
    *args: Any,
    hint: Hint = "",
    shown: str = "",
    allow: tuple[type[BaseException], ...] = (),
    **kwargs: Any,
) -> Any:
    """``await fn(*args, **kwargs)`` (a plain result is taken as it is); a crash becomes one line."""
    attempt = shown or _call_text(fn, args, kwargs)
    with trying(exercise_id, attempt, hint, allow):
        result = fn(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
    if inspect.isawaitable(result):
        close_coroutines(value=result)
        fail(
            exercise_id,
            f"{attempt} returned a coroutine, not its result: did you forget `await` "
            "on the line that returns it?" + (f" ({hint})" if hint and isinstance(hint, str) else ""),
        )
    return result


@contextmanager
def _verdict(exercise_id: str) -> Iterator[None]:
    """Around a whole check: stub → "not done yet"; any other crash → one line (see :func:`trying`).

    A wrong result with a coroutine that was never awaited gets a note: a forgotten ``await``.
    """
    with stub_guard(exercise_id), unawaited_recorded() as caught:
        try:
            with _one_line(exercise_id, attempt=""):
                yield
        except ExerciseFailed as exc:
            note = unawaited_note(caught)
            if note and not isinstance(exc, ExerciseNotDone) and FORGOT_AWAIT not in exc.hint:
                exc.hint = f"{note} The check saw: {exc.hint}"
                exc.args = (f"Exercise {exercise_id}: {exc.hint}",)
            raise


def run_check(exercise_id: str, check_fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Awaitable[None] | None:
    """Run ``check_fn(*args, **kwargs)``; print ✅ with the message it returns, or raise a one-line hint.

    If ``check_fn`` is ``async def``, returns an awaitable: ``await run_check(...)``.
    Whatever the check lets escape (a learner's ``KeyError``…) becomes one line too.
    """
    try:
        with _verdict(exercise_id):
            result = check_fn(*args, **kwargs)
    except ExerciseFailed as exc:
        if _outcome(exc):
            progress.record(exercise_id, _outcome(exc), exc.hint)
        raise
    if inspect.isawaitable(result):
        return _finish(exercise_id, result)
    message = result if isinstance(result, str) else ""
    passed(exercise_id, message)
    progress.record(exercise_id, "passed", message)
    return None


def _outcome(exc: ExerciseFailed) -> str:
    """How a verdict is recorded: a stub ("not done yet") is not an attempt."""
    if isinstance(exc, ExerciseNotDone):
        return ""
    return "crashed" if isinstance(exc, ExerciseCrashed) else "failed"


async def _finish(exercise_id: str, pending: Awaitable[Any]) -> None:
    try:
        with _verdict(exercise_id):
            result = await pending
    except ExerciseFailed as exc:
        if _outcome(exc):
            await progress.arecord(exercise_id, _outcome(exc), exc.hint)
        raise
    message = result if isinstance(result, str) else ""
    passed(exercise_id, message)
    await progress.arecord(exercise_id, "passed", message)


def check(exercise_id: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: make a function (sync or ``async def``) a check for ``exercise_id``.

    The function raises (via ``expect_*``/``fail``) when the answer is wrong and
    may return a short message shown after ``✅ Exercise … passed —``.
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def wrapper(*args: Any, **kwargs: Any) -> None:
                await run_check(exercise_id, fn, *args, **kwargs)  # type: ignore[misc]

        else:

            @functools.wraps(fn)
            def wrapper(*args: Any, **kwargs: Any) -> None:  # type: ignore[misc]
                run_check(exercise_id, fn, *args, **kwargs)

        wrapper.exercise_id = exercise_id  # type: ignore[attr-defined]
        return wrapper

    return decorate
