"""Charts for chapter 3's measurements (matplotlib; figures are returned, not shown)."""

from __future__ import annotations

from collections.abc import Sequence


def naive_vs_fixed(naive_unique, naive_no_constraint, fixed):
    """Bars: what 4 concurrent writers got — stored, lost, sharing a version."""
    import matplotlib.pyplot as plt

    labels = ["read-then-insert\n+ UNIQUE", "read-then-insert\nno constraint", "expected version\n+ retry"]
    ok = [naive_unique.stored, naive_no_constraint.stored - naive_no_constraint.duplicate_rows, fixed.stored]
    lost = [naive_unique.failed, 0, fixed.lost]
    dup = [0, naive_no_constraint.duplicate_rows, 0]
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.bar(labels, ok, label="stored, correct version", color="#4caf50")
    ax.bar(labels, lost, bottom=ok, label="lost (unique violation)", color="#e53935")
    ax.bar(labels, dup, bottom=ok, label="stored with a duplicate version", color="#fb8c00")
    ax.set_ylabel("appends")
    ax.set_title(f"{naive_unique.writers} writers, {naive_unique.attempted} appends to one user")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return fig


def load_times(lengths: Sequence[int], full_ms: Sequence[float], snap_ms: Sequence[float]):
    """Lines: time to load an aggregate vs its length, with and without a snapshot."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(lengths, full_ms, "o-", label="replay every event")
    ax.plot(lengths, snap_ms, "s-", label="snapshot + tail")
    ax.set_xlabel("events in the stream")
    ax.set_ylabel("load time (ms)")
    ax.set_title("Loading an aggregate")
    ax.legend()
    fig.tight_layout()
    return fig
