"""Eventual consistency, measured: how long from "command accepted" to "visible in a read model".

A :class:`LagMeter` is told when each command was accepted (its feed position and
the time) and listens to projectors (each commit reports the positions it made
visible). Both clocks are ``time.perf_counter()`` in one process, so the
difference is the lag. A read model that commits before the client even has its
answer counts as lag 0.

:meth:`LagMeter.split` says where a lag went, from the moments the relay notes for each
chunk it forwards (:meth:`LagMeter.listen_relay`) and a projector for each batch
(``Projector.phases``)::

    accepted ─ relay wake-up ─▶ relay reads ─ relay read ─▶ read done ─ publish ─▶ confirmed
             ─ delivery ─▶ woke ─ queued ─▶ read ─ read ─▶ read_done ─ behind ─▶ ready
             ─ connection ─▶ connected ─ apply ─▶ applied ─ commit ─▶ visible

*relay wake-up* is the append's NOTIFY reaching the relay (and the relay finishing the chunk
before); *relay read* its read of the feed; *publish* the publish with confirms; *delivery*
RabbitMQ's delivery to the projector; *queued* is the projector's loop getting to it;
*behind* is a batch read ahead waiting for the previous one to commit; *connection* is
waiting for a pooled connection; *apply* is the model's reads (for PostgreSQL also BEGIN
and the lock) and the fold in Python; *commit* is the writes, the checkpoint and COMMIT (for
Redis: the one script that checks the checkpoint and writes the batch). A batch read ahead,
before its wake-up arrived, has no wake-up part: a moment before the command was accepted
counts as "at once", and each moment as no earlier than the one before it.
"""

from __future__ import annotations

import statistics
from typing import Any

RELAY_MOMENTS = ("relay_read", "relay_read_done", "published")
MOMENTS = ("woke", "read", "read_done", "ready", "connected", "applied")  # a projector's (Projector.phases)
PARTS = (
    "relay wake-up",
    "relay read",
    "publish",
    "delivery",
    "queued",
    "read",
    "behind",
    "connection",
    "apply",
    "commit",
)  # the time between each two moments, in order (see the module's docstring)


class LagMeter:
    def __init__(self) -> None:
        self.accepted: dict[int, float] = {}  # position -> when the write side answered
        self.visible: dict[str, dict[int, float]] = {}  # model -> position -> when its commit happened
        self.moments: dict[str, dict[int, dict[str, float]]] = {}  # model -> position -> its batch's phases
        self.relayed: dict[int, dict[str, float]] = {}  # position -> its chunk's moments in the relay

    def reset(self) -> None:
        """Forget what was measured so far (the next run starts a new distribution)."""
        self.accepted.clear()
        self.relayed.clear()
        for seen in self.visible.values():
            seen.clear()
        for phases in self.moments.values():
            phases.clear()

    def accept(self, position: int, at: float) -> None:
        self.accepted[position] = at

    def listen_relay(self, relay: Any) -> None:
        """Note when the relay read and published each position (the first part of every lag)."""

        def on_publish(positions: list[int], moments: dict[str, float]) -> None:
            for p in positions:
                self.relayed.setdefault(p, moments)

        relay.listeners.append(on_publish)

    def listen(self, projector: Any) -> None:
        seen = self.visible.setdefault(projector.name, {})
        moments = self.moments.setdefault(projector.name, {})

        def on_commit(positions: list[int], at: float) -> None:
            phases = getattr(projector, "phases", None)  # projectors note them
            for p in positions:
                if p not in seen:
                    seen[p] = at
                    if phases:
                        moments[p] = phases

        projector.listeners.append(on_commit)

    def lags_ms(self, model: str) -> list[float]:
        """Lag of every accepted command that became visible in ``model``, in milliseconds."""
        seen = self.visible.get(model, {})
        return [max(0.0, seen[p] - t) * 1000 for p, t in self.accepted.items() if p in seen]

    def summary(self) -> dict[str, dict[str, float]]:
        """Per model: n, p50, p99, max (ms)."""
        out = {}
        for model in self.visible:
            lags = sorted(self.lags_ms(model))
            if lags:
                out[model] = {"n": len(lags), "p50": percentile(lags, 50), "p99": percentile(lags, 99), "max": lags[-1]}
        return out

    def split(self, model: str) -> dict[str, dict[str, float]]:
        """Where ``model``'s lag went: per part (see the module's docstring), its mean and the mean
        over the slowest 1% of commands, in milliseconds (the parts add up to the lag)."""
        parts = PARTS
        rows = []
        for p, accepted in self.accepted.items():
            m, visible = self.moments.get(model, {}).get(p), self.visible.get(model, {}).get(p)
            if m is None or visible is None:
                continue
            relay = self.relayed.get(p, {})  # without a relay's moments its parts read 0 (all in "delivery")
            times = [accepted, *(relay.get(k, accepted) for k in RELAY_MOMENTS), *(m[k] for k in MOMENTS), visible]
            clamped, last = [], accepted
            for t in times:  # a moment before the command was accepted counts as "at once"
                last = min(max(t, last), max(visible, accepted))
                clamped.append(last)
            rows.append([(b - a) * 1000 for a, b in zip(clamped, clamped[1:])])
        if not rows:
            return {}
        rows.sort(key=sum)
        slowest = rows[-max(1, len(rows) // 100) :]
        return {
            part: {
                "mean": statistics.fmean(r[i] for r in rows),
                "slowest_1pct": statistics.fmean(r[i] for r in slowest),
            }
            for i, part in enumerate(parts)
        }

    def plot(self, ax: Any = None) -> Any:
        """One histogram per read model (log-scaled milliseconds), with p50 and p99 marked."""
        import matplotlib.pyplot as plt
        import numpy as np

        if ax is None:
            _, ax = plt.subplots(figsize=(8, 3.5))
        models = [m for m in self.visible if self.lags_ms(m)]
        everything = [x for m in models for x in self.lags_ms(m)]
        low, high = max(min(everything, default=0.1), 0.1), max(max(everything, default=1.0), 1.0)
        bins = np.logspace(np.log10(low), np.log10(high * 1.1), 40)
        for model in models:
            lags = [max(x, low) for x in self.lags_ms(model)]
            stats = self.summary()[model]
            ax.hist(lags, bins=bins, alpha=0.6, label=f"{model}: p50 {stats['p50']:.1f}, p99 {stats['p99']:.1f} ms")
        ax.set_xscale("log")
        ax.set_xlabel("command accepted → visible in the read model (ms)")
        ax.set_ylabel("commands")
        ax.legend()
        return ax


def percentile(sorted_values: list[float], q: float) -> float:
    """The ``q``-th percentile of already sorted values (inclusive method)."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    return statistics.quantiles(sorted_values, n=100, method="inclusive")[max(0, min(98, round(q) - 1))]
