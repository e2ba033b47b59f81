"""Waiting for something asynchronous to happen — with a deadline and a clear message.

Messages arrive a few milliseconds after they are published, so a notebook that
shows a result must first wait for it. Never ``sleep(1)`` and hope: poll, and
give up with a one-line error that says what never happened.

    await until(lambda: sub.stats.handled == 2, what="both deliveries")
    dead = await until(three_dead_letters, what="3 dead letters")  # returns the truthy value
    code = await within(proc.wait(), 10, what="the child process to exit")

A blocking caller (a CLI command, a test, spawning a server) uses :func:`until_sync`.

Every wait in the package goes through these, so every wait that gives up
raises :class:`WaitTimeout`: a ``TimeoutError`` (code can catch it as one) and a
:class:`~workshop.errors.WorkshopError` (a notebook shows it as one line).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from workshop.errors import WorkshopError

T = TypeVar("T")


class WaitTimeout(WorkshopError, TimeoutError):
    """What we waited for did not happen in time."""


def _gave_up(timeout: float, what: str, detail: str = "") -> WaitTimeout:
    return WaitTimeout(f"waited {timeout:g} s for {what}, but it did not happen" + (f": {detail}" if detail else ""))


async def until(
    probe: Callable[[], Any],
    *,
    timeout: float = 5.0,
    every: float = 0.02,
    what: str = "the condition",
    detail: Callable[[], str] | None = None,
) -> Any:
    """Call ``probe()`` (plain or ``async``) until it returns something truthy; return it.

    Raises :class:`WaitTimeout` naming ``what`` after ``timeout`` seconds; ``detail()``,
    if given, adds how far things got (``"2 of 3 orders final"``).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _gave_up(timeout, what, detail() if detail else "")
        await asyncio.sleep(every)


def until_sync(
    probe: Callable[[], Any],
    *,
    timeout: float = 5.0,
    every: float = 0.1,
    what: str = "the condition",
    detail: Callable[[], str] | None = None,
) -> Any:
    """:func:`until` for code that is not async: block until ``probe()`` is truthy; return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _gave_up(timeout, what, detail() if detail else "")
        time.sleep(every)


async def within(awaitable: Awaitable[T], timeout: float, *, what: str) -> T:
    """Await ``awaitable`` for at most ``timeout`` seconds; raises :class:`WaitTimeout` naming ``what``.

    Only the deadline is turned into :class:`WaitTimeout`: a ``TimeoutError`` raised
    by the awaited code itself passes through unchanged.
    """
    try:
        async with asyncio.timeout(timeout) as deadline:
            return await awaitable
    except TimeoutError:
        if deadline.expired():
            raise _gave_up(timeout, what) from None
        raise


async def stop_task(
    task: asyncio.Task[Any], *, timeout: float = 5.0, every: float = 0.1, raise_error: bool = True
) -> None:
    """Cancel ``task`` and wait until it has ended — for at most ``timeout`` seconds.

    A client library cancelled in the middle of a command may swallow the cancellation
    and retry (redis-py does), so cancel again every ``every`` seconds. A task that
    outlives the deadline is :class:`WaitTimeout` in one line — a stop never hangs.
    If the task had already failed, its exception is raised (``raise_error=False``:
    ignored, for stop paths that have reported it already).
    """
    deadline = time.monotonic() + timeout
    while not task.done():
        if time.monotonic() >= deadline:
            raise _gave_up(timeout, f"{task.get_name()!r} to stop after being cancelled")
        task.cancel()
        await asyncio.wait({task}, timeout=every)
    if not task.cancelled() and task.exception() is not None and raise_error:
        raise task.exception()  # type: ignore[misc]
