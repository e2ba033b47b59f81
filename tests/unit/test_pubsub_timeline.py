"""Loss counting and the delivery timeline (pure: no Redis)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from workshop.pubsub.publisher import user_action  # noqa: E402
from workshop.pubsub.timeline import losses, lost_events, plot_deliveries  # noqa: E402


def _run():
    events = [user_action(i) for i in range(6)]
    published = [(float(i), "user_events", e, 2) for i, e in enumerate(events)]
    steady = [(i + 0.01, "user_events", e) for i, e in enumerate(events)]
    flaky = [(i + 0.01, "user_events", e) for i, e in enumerate(events) if i not in (2, 3)]
    return events, published, {"steady": steady, "flaky": flaky}


def test_losses_are_counted_by_event_id():
    events, published, received = _run()
    assert losses(published, received) == {
        "steady": {"published": 6, "received": 6, "lost": 0},
        "flaky": {"published": 6, "received": 4, "lost": 2},
    }
    assert lost_events(published, received["flaky"]) == [events[2], events[3]]


def test_a_duplicate_delivery_is_not_counted_twice():
    events, published, received = _run()
    twice = received["steady"] + received["steady"][:1]
    assert losses(published, {"s": twice})["s"] == {"published": 6, "received": 6, "lost": 0}


def test_the_plot_has_one_lane_per_subscriber_and_the_counts_in_its_legend():
    _, published, received = _run()
    fig = plot_deliveries(published, received, offline={"flaky": [(1.5, 3.5)]})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["publisher", "steady", "flaky"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "flaky: lost 2" in legend and "steady: lost 0" in legend and "offline" in legend
    assert "published (6)" in legend
