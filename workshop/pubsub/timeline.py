"""Who received what: loss counts and the delivery timeline plot.

Pub/sub is **at-most-once**: a subscriber that is offline (or not subscribed yet) when a
message is published never receives it, and nothing tells it so. Here we make that visible:
the publisher keeps its history, each subscriber its arrivals and offline windows, and

    counts = losses(pub.history, {"subscriber-1": s1.received, "subscriber-2": s2.received})
    fig = plot_deliveries(pub.history, {...received...}, offline={"subscriber-2": s2.offline})

draws one lane per subscriber: a dot for each event received, a red cross for each event
it lost, the offline window shaded — with the counts in the legend.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from workshop.events import Event

Published = Sequence[tuple[float, str, Event, int]]  # Publisher.history
Received = Iterable[tuple[float, str, Event]]  # Subscriber.received (or GroupConsumer.handled): a DeliveryLog


def losses(published: Published, received: Mapping[str, Received]) -> dict[str, dict[str, int]]:
    """Per subscriber: how many published events it received, and how many it lost (by event_id)."""
    ids = [event.event_id for _, _, event, _ in published]
    out: dict[str, dict[str, int]] = {}
    for name, arrivals in received.items():
        got = {event.event_id for _, _, event in arrivals}
        out[name] = {
            "published": len(ids),
            "received": sum(1 for i in ids if i in got),
            "lost": sum(1 for i in ids if i not in got),
        }
    return out


def lost_events(published: Published, arrivals: Received) -> list[Event]:
    """The published events one subscriber never received, in publishing order."""
    got = {event.event_id for _, _, event in arrivals}
    return [event for _, _, event, _ in published if event.event_id not in got]


def plot_deliveries(
    published: Published,
    received: Mapping[str, Received],
    offline: Mapping[str, Iterable[tuple[float, float | None]]] | None = None,
    title: str = "Redis pub/sub: who received what",
    ax: Any = None,
) -> Any:
    """Swimlanes: published events on top, one lane per subscriber below; returns the figure."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 1.0 + 0.7 * (len(received) + 1)))
    times = [t for t, *_ in published] + [t for arr in received.values() for t, *_ in arr]
    t0 = min(times, default=0.0)
    t_end = max(times, default=1.0)
    lanes = ["publisher", *received]
    ax.scatter(
        [t - t0 for t, *_ in published],
        [0] * len(published),
        marker="|",
        s=200,
        color="black",
        label=f"published ({len(published)})",
    )
    counts = losses(published, received)
    first_lane = True
    for lane, (name, arrivals) in enumerate(received.items(), start=1):
        for start, end in (offline or {}).get(name, []):
            ax.axvspan(
                start - t0,
                (t_end if end is None else end) - t0,
                ymin=0,
                ymax=1,
                alpha=0.12,
                color="red",
                label="offline" if first_lane else None,
            )
            first_lane = False
        sent_at = {event.event_id: t for t, _, event, _ in published}
        arrived = [t - t0 for t, _, _ in arrivals]
        ax.scatter(
            arrived,
            [lane] * len(arrived),
            s=18,
            color="tab:green",
            label=f"{name}: received {counts[name]['received']}",
        )
        missing = [sent_at[e.event_id] - t0 for e in lost_events(published, arrivals)]
        ax.scatter(
            missing,
            [lane] * len(missing),
            marker="x",
            s=40,
            color="tab:red",
            label=f"{name}: lost {counts[name]['lost']}",
        )
    ax.set_yticks(range(len(lanes)), lanes)
    ax.set_ylim(len(lanes) - 0.5, -0.5)
    ax.set_xlabel("seconds")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    ax.figure.tight_layout()
    return ax.figure
