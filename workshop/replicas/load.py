"""Writers that remember what was acknowledged — the only honest way to count what a failover lost.

A writer appends one event at a time to its own stream, with the expected version, and
records each append the store **acknowledged** (``append`` returned). When the primary dies
mid-append the writer cannot know whether that last one committed: it is recorded as
*in doubt*, never as acknowledged. Then it asks the store (the new primary, found by libpq)
for its stream's version and goes on from there — no retry of the same event, so nothing
is ever appended twice by the writer itself.

After the failover, :func:`workshop.replicas.invariants.audit` compares the acknowledged
events with the new primary's feed: an acknowledged event that is not there was **lost**.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from workshop.events import Event
from workshop.store.base import ConcurrencyError

RECONNECTABLE = (
    "OperationalError",
    "PoolTimeout",
    "InterfaceError",
    "ConnectionError",
    "ReadOnlySqlTransaction",
    "AdminShutdown",
    "ConnectionTimeout",
    "TimeoutError",
    "ConnectionResetError",
)


@dataclass
class Ack:
    """One append the store acknowledged."""

    event_id: str
    stream_id: str
    version: int
    at: float  # time.monotonic() when append returned
    latency: float  # seconds the append took


@dataclass
class Writer:
    """Appends to one stream until told to stop, counting what was acknowledged and what failed."""

    store: Any
    stream_id: str
    acks: list[Ack] = field(default_factory=list)
    in_doubt: list[str] = field(default_factory=list)  # event ids whose append raised mid-way
    errors: int = 0
    last_error: str = ""
    version: int = 0

    async def append_one(self, i: int) -> Ack | None:
        event = Event("Ticked", self.stream_id, {"i": i})
        start = time.monotonic()
        try:
            self.version = await self.store.append(self.stream_id, [event], self.version)
        except ConcurrencyError as exc:
            # after a failover the stream may be shorter (lost events) or longer (an in-doubt append
            # did commit): carry on from where the new primary really is
            self.version = exc.actual
            self.errors += 1
            self.last_error = "ConcurrencyError"
            self.in_doubt.append(event.event_id)
            return None
        except Exception as exc:  # the primary died under us: was it committed? nobody can say
            if type(exc).__name__ not in RECONNECTABLE and not isinstance(exc, OSError):
                raise
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:80]}"
            self.in_doubt.append(event.event_id)
            await self._resync()
            return None
        end = time.monotonic()
        ack = Ack(event.event_id, self.stream_id, self.version, end, end - start)
        self.acks.append(ack)
        return ack

    async def _resync(self) -> None:
        """Ask the (possibly new) primary for the stream's version; wait a little if nobody answers."""
        try:
            self.version = await self.store.version(self.stream_id)
        except Exception:  # still failing over
            await asyncio.sleep(0.05)


@dataclass
class Load:
    """Several writers appending concurrently; ``run_until(stop)`` drives them."""

    store: Any
    writers: list[Writer]

    @classmethod
    def make(cls, store: Any, writers: int = 4, prefix: str = "load") -> Load:
        tag = uuid.uuid4().hex[:6]
        return cls(store, [Writer(store, f"{prefix}-{tag}-{w}") for w in range(writers)])

    async def run_until(self, stop: asyncio.Event) -> None:
        async def one(w: Writer) -> None:
            i = 0
            while not stop.is_set():
                await w.append_one(i)
                i += 1

        await asyncio.gather(*(one(w) for w in self.writers))

    @property
    def acks(self) -> list[Ack]:
        return sorted((a for w in self.writers for a in w.acks), key=lambda a: a.at)

    @property
    def in_doubt(self) -> list[str]:
        return [e for w in self.writers for e in w.in_doubt]

    def acked_since(self, t: float) -> int:
        """Appends sent after ``t`` and acknowledged."""
        return sum(1 for a in self.acks if a.at - a.latency > t)

    def first_ack_after(self, t: float) -> float | None:
        """When the first append sent after ``t`` was acknowledged (a reply already on its way is not it)."""
        return next((a.at for a in self.acks if a.at - a.latency > t), None)
