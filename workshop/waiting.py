"""Waiting for something asynchronous to happen — with a deadline and a clear message.

Messages arrive a few milliseconds after they are published, so a notebook that
shows a result must first wait for it. Never ``sleep(1)`` and hope: poll, and
give up with a one-line error that says what never happened.

    await until(lambda: sub.stats.handled == 2, what="both deliveries")
    dead = await until(three_dead_letters, what="3 dead letters")  # returns the truthy value
"""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any, Callable

from workshop.errors import WorkshopError


class WaitTimeout(WorkshopError, TimeoutError):
    """What we waited for did not happen in time."""


async def until(probe: Callable[[], Any], *, timeout: float = 5.0, every: float = 0.02,
                what: str = "the condition") -> Any:
    """Call ``probe()`` (plain or ``async``) until it returns something truthy; return it.

    Raises :class:`WaitTimeout` naming ``what`` after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"waited {timeout:g} s for {what}, but it did not happen")
        await asyncio.sleep(every)
