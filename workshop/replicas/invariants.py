"""The invariant checker: run it after every fault, believe nothing else.

Three promises an event store makes, checked from the outside:

1. **Every acknowledged event is there, exactly once.** An acknowledged event that is not in
   the feed was *lost* (asynchronous replication does that); one that is there twice was
   *doubled* (a client that retried an append whose first attempt had committed).
2. **The feed has no gap.** Positions are 1, 2, 3, … with nothing missing: a projection
   that follows the feed can trust that what it has not seen yet comes later.
3. **Each read model equals a replay.** Folding the feed from the start gives the same
   state as the model the projector kept up to date.

    report = await check(store, acknowledged=[a.event_id for a in load.acks],
                         models={"ticks": (lambda: counts, count_ticks)})
    print(report)          # "ok: 412 acknowledged events present once, feed 1..430 dense, 1 model = replay"
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workshop.store.base import Recorded

Model = tuple[Any, Callable[[list[Recorded]], Any]]  # (its state, or a function returning it; replay(feed))


@dataclass
class Audit:
    """What :func:`audit` found; ``ok`` when nothing."""

    acknowledged: int
    feed: int  # events in the feed
    lost: list[str] = field(default_factory=list)  # acknowledged, not in the feed
    doubled: list[str] = field(default_factory=list)  # event ids in the feed more than once
    gaps: list[tuple[int, int]] = field(default_factory=list)  # (last position before, next position seen)
    models: list[str] = field(default_factory=list)  # read models that differ from a replay
    checked_models: int = 0

    @property
    def ok(self) -> bool:
        return not (self.lost or self.doubled or self.gaps or self.models)

    def __str__(self) -> str:
        if self.ok:
            return f"ok: {self.acknowledged} acknowledged events present once, feed 1..{self.feed} dense" + (
                f", {self.checked_models} model(s) = replay" if self.checked_models else ""
            )
        parts = []
        if self.lost:
            parts.append(f"{len(self.lost)} acknowledged event(s) lost (e.g. {self.lost[0]})")
        if self.doubled:
            parts.append(f"{len(self.doubled)} event(s) doubled (e.g. {self.doubled[0]})")
        if self.gaps:
            a, b = self.gaps[0]
            parts.append(f"{len(self.gaps)} gap(s) in the feed (first: after {a} comes {b})")
        if self.models:
            parts.append(f"read model(s) differ from a replay: {', '.join(self.models)}")
        return "BROKEN: " + "; ".join(parts)


def audit(acknowledged: Iterable[str], feed: Sequence[Recorded]) -> Audit:
    """Compare what the writers were told (event ids) with the feed as the store returns it."""
    acked = list(dict.fromkeys(acknowledged))
    counts = Counter(r.event.event_id for r in feed)
    report = Audit(len(acked), len(feed))
    report.lost = [e for e in acked if e not in counts]
    report.doubled = [e for e, n in counts.items() if n > 1]
    previous = 0
    for r in sorted(feed, key=lambda r: r.position):
        if r.position != previous + 1:
            report.gaps.append((previous, r.position))
        previous = r.position
    return report


async def read_feed(store: Any, page: int = 1000) -> list[Recorded]:
    """The whole global feed, page by page."""
    out: list[Recorded] = []
    while batch := await store.read_all(after=out[-1].position if out else 0, limit=page):
        out.extend(batch)
    return out


async def check(store: Any, acknowledged: Iterable[str], models: Mapping[str, Model] | None = None) -> Audit:
    """Read the store's whole feed, :func:`audit` it, and compare each read model with a replay."""
    feed = await read_feed(store)
    report = audit(acknowledged, feed)
    for name, (state, replay) in (models or {}).items():
        current = state() if callable(state) else state
        if inspect.isawaitable(current):
            current = await current
        report.checked_models += 1
        if current != replay(feed):
            report.models.append(name)
    return report
