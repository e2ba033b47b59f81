"""What a Redis Stream survives: a consumer crash always, a *server* crash only with persistence.

A consumer group keeps its pending entries (PEL) on the server, so a consumer that dies
loses nothing. But the stream, the group and the PEL live in the server's memory: a
``redis-server`` that dies without persistence comes back empty. The append-only file
(AOF) writes every command to disk; ``appendfsync`` decides how often it is forced to the
platter (``fsync``):

* ``everysec`` — once a second, in a background thread. Redis normally writes to the file
  (the kernel) before it replies, so a crash of the *process* loses nothing; a crash of the
  *machine* (power, kernel) can lose the last second of acknowledged writes. But while the
  previous fsync is still running (a busy disk), Redis holds its writes back in memory for
  up to 2 s — and replies anyway: a process crash in that window loses them.
* ``always`` — before replying to each write (batched per event-loop turn): nothing
  acknowledged is lost, at the price of one fsync per round of writes.

:func:`restart` measures one mode on a throw-away server: append ``n`` entries one by one
(each acknowledged before the next, the rate a single producer gets), hand five to a
consumer that does not ack them, wait until Redis has written what it acknowledged to the
file (``INFO persistence``: ``aof_buffer_length`` 0 — on a busy disk that can take up to 2 s,
and a crash before it loses those writes even with ``everysec``; ``held_back`` says how many
bytes were waiting), ``SIGKILL`` the server, start it again on the same files, and count
what is left::

    for mode in (None, "everysec", "always"):
        print(await restart(mode))
    # no persistence: 2000 XADD at 9,000/s → after SIGKILL + restart: 0 entries, 0 groups, 0 pending
    # AOF everysec:   2000 XADD at 8,600/s → after SIGKILL + restart: 2000 entries, 1 group, 5 pending
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from workshop import connect
from workshop.config import settings
from workshop.events import Event
from workshop.pubsub.backpressure import ThrowawayRedis
from workshop.waiting import until

MODES = {None: "no persistence", "everysec": "AOF everysec", "always": "AOF always"}


@dataclass(frozen=True)
class RestartResult:
    mode: str  # "no persistence", "AOF everysec" or "AOF always"
    written: int  # entries appended (each acknowledged) before the crash
    seconds: float  # how long those appends took
    pending: int  # entries handed out and not acknowledged before the crash
    entries_after: int
    groups_after: int
    pending_after: int
    held_back: int = 0  # bytes acknowledged but still in Redis's AOF buffer (not in the file) after the appends

    @property
    def rate(self) -> float:
        """Acknowledged appends per second, one at a time."""
        return self.written / self.seconds if self.seconds else 0.0

    @property
    def lost(self) -> int:
        return self.written - self.entries_after

    def __str__(self) -> str:
        return (
            f"{self.mode:<15} {self.written} XADD at {self.rate:,.0f}/s → after SIGKILL + restart: "
            f"{self.entries_after} entries, {self.groups_after} group(s), {self.pending_after} pending"
        )


async def restart(
    appendfsync: str | None, n: int = 2000, *, stream: str = "orders", group: str = "billing"
) -> RestartResult:
    """Append ``n`` entries, leave 5 pending, let Redis write them out, ``SIGKILL`` it, restart it, count."""
    async with ThrowawayRedis(appendfsync=appendfsync) as server:
        s = replace(settings(), redis_url=server.url)
        r = await connect.redis(s)
        try:
            await r.xgroup_create(stream, group, id="0", mkstream=True)
            event = Event("OrderCreated", "ORD-1", {"total": "10.00"}).to_json()
            start = time.perf_counter()
            for _ in range(n):
                await r.xadd(stream, {"event": event})
            seconds = time.perf_counter() - start
            await r.xreadgroup(group, "c1", {stream: ">"}, count=5)  # handed out, never acknowledged
            held_back = await unwritten(r)
            await written(r)
        finally:
            await r.aclose()
        await server.crash()
        await server.start()
        r = await connect.redis(s)
        try:
            entries = await r.xlen(stream)
            groups = await r.xinfo_groups(stream) if entries or await r.exists(stream) else []
            pending = sum(g["pending"] for g in groups)
        finally:
            await r.aclose()
    return RestartResult(MODES[appendfsync], n, seconds, 5, entries, len(groups), pending, held_back)


async def unwritten(r) -> int:
    """Bytes of acknowledged writes Redis still holds in its AOF buffer, not yet written to the file.

    0 without the AOF. With ``everysec`` it is 0 too — unless the previous ``fsync`` is still
    running: then Redis postpones the write (up to 2 s) and replies anyway.
    """
    info = await r.info("persistence")
    return int(info["aof_buffer_length"]) if info["aof_enabled"] else 0


async def written(r, timeout: float = 10.0) -> None:
    """Wait until everything Redis acknowledged is in the AOF file (handed to the kernel).

    A ``SIGKILL`` before that would lose acknowledged writes even with ``everysec`` — a
    measurement of how busy the disk was, not of the fsync policy. Redis forces the write
    after 2 s at the latest; ``timeout`` is the deadline beyond that.
    """
    left = [0]

    async def empty() -> bool:
        left[0] = await unwritten(r)
        return left[0] == 0

    await until(
        empty,
        timeout=timeout,
        every=0.05,
        what="Redis to write its AOF buffer to the file",
        detail=lambda: f"{left[0]} bytes still held back (the disk is too busy?)",
    )
