"""Chapter 1's swimlanes stay readable at a burst of six orders: no label overlaps another or leaves the figure."""

from __future__ import annotations

import itertools

import matplotlib
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from workshop.viz.timeline import Record, swimlanes  # noqa: E402

T0 = 1_700_000_000.0


def _record(order: int, service: str, event_type: str, ms: float, cause: str | None) -> Record:
    return Record(
        service,
        event_type,
        f"ORD-{order:08x}-7602-47ae-b2d3-5e4adec2f054",
        f"{order}-{event_type}-{ms}",
        cause,
        None,
        T0 + ms / 1000,
        T0 + ms / 1000,
        f"{service}.{event_type.lower()}",
    )


def burst_of_six() -> list[Record]:
    """Six orders placed within 5 ms, shaped like a real run: four shipped, a declined card, a shortage."""
    recs: list[Record] = []

    def add(order, service, event_type, ms, cause=None):
        recs.append(_record(order, service, event_type, ms, cause))
        recs.append(_record(order, "notification", "NotificationSent", ms + 8 + 3 * order, recs[-1].event_id))
        return recs[-2].event_id

    for i in range(6):
        created = add(i, "order", "OrderCreated", i * 0.8)
        if i == 4:  # the card is declined
            failed = add(i, "payment", "PaymentFailed", 300, created)
            add(i, "order", "OrderCancelled", 700, failed)
            continue
        paid = add(i, "payment", "PaymentProcessed", 120 + 14 * i, created)
        if i == 2:  # out of stock: refund, cancel
            short = add(i, "inventory", "InventoryShortage", 515, paid)
            refund = add(i, "payment", "PaymentRefunded", 820, short)
            add(i, "order", "OrderCancelled", 920 + 60, refund)
            continue
        reserved = _record(i, "inventory", "InventoryReserved", 385 + 30 * i, paid)
        recs.append(reserved)
        add(i, "shipping", "OrderShipped", 600 + 40 * i, reserved.event_id)
    return recs


def _labels(fig) -> list:
    (ax,) = [a for a in fig.axes if a.get_yticklabels()]
    return [t for t in ax.texts if t.arrow_patch is None]


def test_six_orders_labels_neither_overlap_nor_leave_the_figure():
    fig = swimlanes(burst_of_six(), title="A burst of six orders")
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        labels = _labels(fig)
        boxes = {t.get_text() + f"@{i}": t.get_window_extent(renderer) for i, t in enumerate(labels)}
        for (a, box_a), (b, box_b) in itertools.combinations(boxes.items(), 2):
            overlap_w = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
            overlap_h = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
            assert overlap_w <= 0.5 or overlap_h <= 0.5, f"labels {a} and {b} overlap"
        for name, box in boxes.items():
            assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1, f"label {name} is clipped at the edge"
            assert fig.bbox.y0 <= box.y0 and box.y1 <= fig.bbox.y1, f"label {name} is clipped at the edge"
        texts = [t.get_text() for t in labels]
        assert "OrderCreated ×6" in texts  # six dots on top of each other: one label, counted
        assert sum(int(t.rsplit("×", 1)[1]) if "×" in t else 1 for t in texts) == len(burst_of_six())
        legend = fig.axes[0].get_legend()
        assert [t.get_text() for t in legend.get_texts()] == [f"ORD-{i:08x}…" for i in range(6)]
    finally:
        plt.close(fig)


def test_a_redraw_into_the_same_axes_replaces_the_picture():  # what live() does every half second
    recs = burst_of_six()
    fig = swimlanes(recs[:10])
    try:
        swimlanes(recs, ax=fig.axes[0])
        ax = fig.axes[0]
        assert len(ax.collections) == len(recs)
        assert ax.get_title().endswith(f"6 order(s), {len(recs)} event(s)")
        assert len(fig.axes) == 1
    finally:
        plt.close(fig)


@pytest.mark.parametrize("labels", [True, False])
def test_one_order_has_no_legend_and_labels_can_be_off(labels):
    fig = swimlanes([r for r in burst_of_six() if r.aggregate_id.startswith("ORD-00000000")], labels=labels)
    try:
        assert fig.axes[0].get_legend() is None
        assert bool(_labels(fig)) is labels
    finally:
        plt.close(fig)
