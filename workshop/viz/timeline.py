"""An event timeline: a tap queue records every event, swimlanes show the saga at a glance.

    tap = await Tap.start(system.bus)          # queue "tap" bound to "#"
    ... place orders ...
    swimlanes(tap.records)                      # one lane per service, arrows along causation
    await live(tap, seconds=3)                  # the same picture, redrawn while orders flow

A record's *service* is the publisher (AMQP ``app_id``, CloudEvents ``source``);
its arrows go from the event that caused it (``causation_id``) to it.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from workshop.bus.base import Delivery
from workshop.events import Event
from workshop.waiting import until

LANES = ("order", "payment", "inventory", "shipping", "notification")


@dataclass(frozen=True)
class Record:
    service: str
    event_type: str
    aggregate_id: str
    event_id: str
    causation_id: str | None
    correlation_id: str | None
    emitted_at: float  # the event's own timestamp (epoch seconds)
    received_at: float  # when the tap got it
    routing_key: str


class Tap:
    """A subscription bound to ``#``: a copy of every event, for watching (never for business logic)."""

    def __init__(self, bus: Any, name: str = "tap") -> None:
        self.bus, self.name = bus, name
        self.records: list[Record] = []
        self.subscription: Any = None

    @classmethod
    async def start(cls, bus: Any, name: str = "tap") -> Tap:
        tap = cls(bus, name)
        # not durable: a tap nobody reads must not pile up messages on the broker
        tap.subscription = await bus.subscribe(name, ["#"], tap._record, prefetch=100, durable=False)
        return tap

    async def _record(self, event: Event, delivery: Delivery) -> None:
        self.records.append(
            Record(
                delivery.source or "?",
                event.event_type,
                event.aggregate_id,
                event.event_id,
                event.causation_id,
                event.correlation_id,
                event.when.timestamp(),
                delivery.received_at,
                delivery.routing_key,
            )
        )

    def frame(self):
        """The records as a pandas DataFrame, oldest first."""
        import pandas as pd

        df = pd.DataFrame([asdict(r) for r in self.records], columns=list(Record.__dataclass_fields__))
        return df.sort_values("emitted_at", kind="stable").reset_index(drop=True)

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        """Wait until the tap has recorded at least ``count`` events (a one-line WaitTimeout if not)."""
        await until(
            lambda: len(self.records) >= count,
            timeout=timeout,
            what=f"the tap to see {count} events",
            detail=lambda: f"it saw {len(self.records)}",
        )

    async def wait_idle(self, quiet: float = 0.5, timeout: float = 15.0) -> int:
        """Wait until no new event arrived for ``quiet`` s; returns how many were recorded."""
        last = {"count": len(self.records), "since": time.monotonic()}

        def quiet_enough() -> bool:
            if len(self.records) != last["count"]:
                last.update(count=len(self.records), since=time.monotonic())
            return time.monotonic() - last["since"] >= quiet

        await until(
            quiet_enough,
            timeout=timeout,
            every=0.05,
            what=f"{quiet:g} s without a new event",
            detail=lambda: f"events were still arriving ({len(self.records)} so far)",
        )
        return int(last["count"])

    def clear(self) -> None:
        self.records.clear()

    async def stop(self) -> None:
        if self.subscription is not None:
            await self.subscription.cancel()
            self.subscription = None


def _pick(records: Iterable[Record], aggregate_ids: Sequence[str] | None, last: int | None) -> list[Record]:
    recs = sorted(records, key=lambda r: r.emitted_at)
    if aggregate_ids is not None:
        wanted = set(aggregate_ids)
        recs = [r for r in recs if r.aggregate_id in wanted]
    elif last is not None:
        keep: list[str] = []
        for r in reversed(recs):
            if r.aggregate_id not in keep:
                keep.append(r.aggregate_id)
        recs = [r for r in recs if r.aggregate_id in set(keep[:last])]
    return recs


LABEL_PT = 7  # font size of event labels, in points
TIERS = (4, 14, -4)  # label rows around a dot (points): two above, one below


@dataclass
class _Label:
    x: float
    lane: int
    event_type: str
    count: int = 1

    @property
    def text(self) -> str:
        return self.event_type + (f" ×{self.count}" if self.count > 1 else "")


@functools.lru_cache(maxsize=256)
def _text_width(text: str) -> float:
    """Width of ``text`` at LABEL_PT, in points."""
    from matplotlib.textpath import TextPath

    return TextPath((0, 0), text, size=LABEL_PT).get_extents().width + 2


def _labels(points: list[tuple[float, int, str]], ms_per_pt: float) -> list[_Label]:
    """One label per event type and lane for events closer than a label's width: ``NotificationSent ×3``."""
    labels: list[_Label] = []
    for x, lane, event_type in sorted(points):
        near = [
            lb
            for lb in labels
            if lb.lane == lane and lb.event_type == event_type and x - lb.x <= _text_width(lb.text) * ms_per_pt
        ]
        if near:
            near[-1].count += 1
        else:
            labels.append(_Label(x, lane, event_type))
    return labels


def _draw_labels(ax: Any, labels: list[_Label], xmax: float, ms_per_pt: float) -> None:
    """Put each label in the first row (TIERS) of its lane where it overlaps no other; keep it inside the axes."""
    ends: dict[tuple[int, int], float] = {}  # (lane, tier) -> right end of the last label there
    for lb in sorted(labels, key=lambda lb: lb.x):
        width = _text_width(lb.text) * ms_per_pt
        right_aligned = lb.x + width > xmax  # would run off the right edge: write it to the left of the dot
        left = lb.x - width if right_aligned else lb.x
        free = [t for t in range(len(TIERS)) if ends.get((lb.lane, t), -float("inf")) < left]
        tier = free[0] if free else min(range(len(TIERS)), key=lambda t: ends[(lb.lane, t)])
        ends[(lb.lane, tier)] = left + width
        dy = TIERS[tier]
        ax.annotate(
            lb.text,
            (lb.x, lb.lane),
            xytext=(0, -dy),
            textcoords="offset points",
            fontsize=LABEL_PT,
            ha="right" if right_aligned else "left",
            va="top" if dy > 0 else "bottom",
            zorder=4,
            bbox={"boxstyle": "square,pad=0.05", "facecolor": "white", "edgecolor": "none", "alpha": 0.7},
        )


def _short_id(aggregate_id: str) -> str:
    return aggregate_id if len(aggregate_id) <= 13 else aggregate_id[:12] + "…"


def swimlanes(
    records: Iterable[Record],
    *,
    aggregate_ids: Sequence[str] | None = None,
    last: int | None = 6,
    ax: Any = None,
    title: str = "Events by service",
    labels: bool = True,
) -> Any:
    """Draw one lane per service, a dot per event, an arrow from each cause to its effect.

    Shows the ``last`` orders (or exactly ``aggregate_ids``); colours are per order (legend
    on the right). Events of one type close together share one label (``OrderCreated ×6``).
    Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    recs = _pick(records, aggregate_ids, last)
    lanes = list(LANES) + sorted({r.service for r in recs} - set(LANES))
    if ax is None:
        fig, ax = plt.subplots(figsize=(11, 0.7 * len(lanes) + 1.2), layout="constrained")
    else:
        fig = ax.figure
    ax.clear()
    t0 = recs[0].emitted_at if recs else 0.0
    orders = list(dict.fromkeys(r.aggregate_id for r in recs))
    colours = {oid: plt.cm.tab10(i % 10) for i, oid in enumerate(orders)}
    pos: dict[str, tuple[float, int]] = {}
    for r in recs:
        x, y = (r.emitted_at - t0) * 1000, lanes.index(r.service)
        pos[r.event_id] = (x, y)
        ax.scatter([x], [y], color=colours[r.aggregate_id], s=40, zorder=3)
    for r in recs:
        if r.causation_id in pos:
            ax.annotate(
                "",
                xy=pos[r.event_id],
                xytext=pos[r.causation_id],
                zorder=2,
                arrowprops={"arrowstyle": "->", "color": colours[r.aggregate_id], "alpha": 0.6},
            )
    span = max((x for x, _ in pos.values()), default=0.0) or 1.0
    xmin, xmax = -0.03 * span, 1.03 * span
    ax.set_xlim(xmin, xmax)
    if labels and recs:
        width_pt = 72 * fig.get_figwidth() * 0.8  # the axes' share of the figure, legend aside
        ms_per_pt = (xmax - xmin) / width_pt
        points = [(pos[r.event_id][0], pos[r.event_id][1], r.event_type) for r in recs]
        _draw_labels(ax, _labels(points, ms_per_pt), xmax, ms_per_pt)
    ax.set_yticks(range(len(lanes)), lanes)
    ax.set_ylim(-0.6, len(lanes) - 0.4)
    ax.invert_yaxis()
    ax.set_xlabel("ms since the first event shown")
    ax.set_title(f"{title} — {len(orders)} order(s), {len(recs)} event(s)")
    ax.grid(axis="x", alpha=0.3)
    if 1 < len(orders) <= 10:
        handles = [Line2D([], [], marker="o", linestyle="", color=colours[o]) for o in orders]
        ax.legend(
            handles,
            [_short_id(o) for o in orders],
            title="order",
            fontsize=LABEL_PT,
            title_fontsize=LABEL_PT,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            frameon=False,
        )
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    return fig


async def live(tap: Tap, seconds: float = 3.0, every: float = 0.5, **kw: Any) -> Any:
    """Redraw :func:`swimlanes` in place every ``every`` s for ``seconds`` s (awaits until done)."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    fig = swimlanes(tap.records, **kw)
    handle = display(fig, display_id=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await asyncio.sleep(every)
        swimlanes(tap.records, ax=fig.axes[0], **kw)
        if handle is not None:
            handle.update(fig)
    plt.close(fig)  # shown already: keep Jupyter from drawing it a second time
    return None


def saga_tree(records: Iterable[Record], aggregate_id: str) -> str:
    """One order's events as a causation tree (stable text: no ids, no times)."""
    recs = [r for r in records if r.aggregate_id == aggregate_id]
    ids = {r.event_id for r in recs}
    children: dict[str | None, list[Record]] = {}
    for r in recs:
        children.setdefault(r.causation_id if r.causation_id in ids else None, []).append(r)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for r in sorted(children.get(parent, []), key=lambda r: (r.service == "notification", r.event_type)):
            lines.append(f"{'    ' * depth}{r.service}: {r.event_type}")
            walk(r.event_id, depth + 1)

    walk(None, 0)
    return "\n".join(lines)
