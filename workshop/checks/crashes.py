"""Turn an exception raised by a learner's code into one readable line.

A check calls the learner's function; when that function crashes, the learner
should read *what* was raised, *where* in their code, and — for the two
mistakes everybody makes with async Redis code — what to do about it:

* a forgotten ``await``: a coroutine turns up where a value was expected
  (``TypeError: 'coroutine' object is not iterable``);
* an object handed to Redis or ``json`` that needed ``.to_json()`` first
  (``DataError: Invalid input of type: 'Event'``).

:func:`explain` returns that line; :func:`known_hint` only the advice.
"""

from __future__ import annotations

import inspect
import re
import sysconfig
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

__all__ = [
    "close_coroutines",
    "explain",
    "known_hint",
    "learner_frame",
    "summary",
    "unawaited_note",
    "unawaited_recorded",
]

FORGOT_AWAIT = "that is a coroutine, not its result: did you forget `await` in front of an async call?"

_PACKAGE = str(Path(__file__).resolve().parent.parent)
_LIBRARIES = tuple(
    {str(Path(sysconfig.get_paths()[k]).resolve()) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
)
_REDIS_INPUT = re.compile(r"Invalid input of type: '(\w+)'")
_JSON_INPUT = re.compile(r"Object of type (\w+) is not JSON serializable")


def _needs_conversion(type_name: str) -> str:
    if type_name == "Event":
        return "an Event is not a string: hand over event.to_json() instead of the Event itself"
    return f"{_article(type_name)} {type_name} cannot be stored as it is: convert it to a string first (e.g. to JSON)"


def _article(name: str) -> str:
    return "an" if name[:1].lower() in "aeiou" else "a"


def known_hint(exc: BaseException) -> str | None:
    """Advice for the mistakes recognised by name (forgotten ``await``, missing ``.to_json()``), else None."""
    text = str(exc)
    if "coroutine" in text:
        return FORGOT_AWAIT
    for pattern in (_REDIS_INPUT, _JSON_INPUT):
        found = pattern.search(text)
        if found:
            return _needs_conversion(found.group(1))
    return None


def summary(exc: BaseException, limit: int = 160) -> str:
    """``IndexError: list index out of range`` on one line, cut at ``limit`` characters."""
    text = " ".join(str(exc).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _is_library(filename: str) -> bool:
    if filename.startswith("<") and not filename.startswith("<ipython"):
        return True  # <frozen importlib…>, <string>
    path = str(Path(filename).resolve()) if not filename.startswith("<") else filename
    return path.startswith(_PACKAGE) or path.startswith(_LIBRARIES)


def learner_frame(tb: TracebackType | None) -> tuple[str, int] | None:
    """(function name, line) of the innermost frame outside the package, the stdlib and site-packages."""
    found = None
    for frame, lineno in traceback.walk_tb(tb):
        if not _is_library(frame.f_code.co_filename):
            found = (frame.f_code.co_name, lineno)
    return found


def explain(exc: BaseException, hint: str = "") -> str:
    """``IndexError: list index out of range (in upcast_v1, line 2) — hint``; a recognised mistake's advice first."""
    where = learner_frame(exc.__traceback__)
    at = f" (in {where[0]}, line {where[1]})" if where and where[0] != "<module>" else ""
    known = known_hint(exc)
    advice = f"{known} ({hint})" if known and hint else known or hint
    return f"{summary(exc)}{at}" + (f" — {advice}" if advice else "")


def close_coroutines(exc: BaseException | None = None, value: object = None) -> None:
    """Close never-started coroutines left in ``value`` or the crashed frames (no 'never awaited' warning later)."""
    found = [value] if inspect.iscoroutine(value) else []
    if exc is not None:
        for frame, _ in traceback.walk_tb(exc.__traceback__):
            found += [v for v in frame.f_locals.values() if inspect.iscoroutine(v)]
    for coro in found:
        if inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
            coro.close()


def _unawaited(w: warnings.WarningMessage) -> bool:
    return issubclass(w.category, RuntimeWarning) and "was never awaited" in str(w.message)


@contextmanager
def unawaited_recorded() -> Iterator[list[warnings.WarningMessage]]:
    """Record Python's 'coroutine … was never awaited' warnings raised in the block.

    Yields the live list of recorded warnings (see :func:`unawaited_note`). When the
    block raises, those warnings are dropped: the check's one line says it better.
    Otherwise they, and every other warning, are shown as usual when the block ends.
    """
    recorded: list[warnings.WarningMessage] = []
    raised = True
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.filterwarnings("always", message=r"coroutine .* was never awaited", category=RuntimeWarning)
            recorded = caught
            yield caught
            raised = False
    finally:  # outside catch_warnings: what is shown again is not recorded again
        for w in recorded:
            if not (raised and _unawaited(w)):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def unawaited_note(caught: list[warnings.WarningMessage]) -> str:
    """``a coroutine (charge) was never awaited: did you forget an `await`?`` if one was recorded, else ''."""
    names = sorted(
        {
            str(w.message).split("'")[1].rsplit(".", 1)[-1]
            for w in caught
            if _unawaited(w) and str(w.message).count("'") >= 2
        }
    )
    if not names:
        return ""
    return f"a coroutine ({', '.join(names)}) was never awaited: did you forget an `await`?"
