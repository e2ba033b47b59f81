"""Call statistics from ``getStats()``: frames/s, bitrate, round-trip time and packet loss — and a live plot.

``getStats()`` gives counters (bytes, packets, packets lost) since the start;
rates come from the difference between two samples. Round-trip time is what
the *sender* learns from the receiver's RTCP reports (``remote-inbound-rtp``).
Frames/s is counted where frames are decoded: the receiver's :class:`FrameSink`.

:func:`cap_bitrate` shows bandwidth adaptation as far as aiortc allows — see its docstring.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCPeerConnection

from workshop.webrtc.tracks import FrameSink


async def video_counters(sender: RTCPeerConnection, receiver: RTCPeerConnection) -> dict[str, float]:
    """The raw video counters of one direction: bytes sent, packets received and lost, the RTT.

    (aiortc's ``inbound-rtp`` has no ``bytesReceived``: the bitrate is counted where it is sent.)
    """
    out: dict[str, float] = {"bytes": 0, "packets": 0, "lost": 0, "rtt": float("nan")}
    for stat in (await receiver.getStats()).values():
        if stat.type == "inbound-rtp" and stat.kind == "video":
            out.update(packets=stat.packetsReceived, lost=max(stat.packetsLost, 0))
    for stat in (await sender.getStats()).values():
        if stat.type == "outbound-rtp" and stat.kind == "video":
            out["bytes"] = stat.bytesSent
        elif stat.type == "remote-inbound-rtp" and stat.kind == "video" and stat.roundTripTime is not None:
            out["rtt"] = stat.roundTripTime
    return out


def _video_encoder(pc: RTCPeerConnection) -> Any:
    """The VP8 encoder of ``pc``'s video sender (aiortc keeps it private); None before the first frame."""
    for sender in pc.getSenders():
        if sender.track is not None and sender.track.kind == "video":
            return getattr(sender, "_RTCRtpSender__encoder", None)
    raise ValueError("this peer connection sends no video")


def encoder_target(pc: RTCPeerConnection) -> float:
    """The bitrate (bit/s) the video encoder aims at now: what REMB (or a cap) last set; NaN before it runs."""
    encoder = _video_encoder(pc)
    return float(getattr(encoder, "target_bitrate", float("nan")))


@dataclass
class StatsSampler:
    """Samples one direction of a call (``sender`` → ``receiver``) into rows of a table.

    A row: ``t`` (s since the sampler started), ``fps`` (frames/s decoded), ``kbps`` (video
    kbit/s sent: RTP payload, no headers), ``target_kbps`` (what the encoder aims at),
    ``rtt_ms``, ``loss_pct``.
    """

    sender: RTCPeerConnection
    receiver: RTCPeerConnection
    sink: FrameSink
    rows: list[dict[str, float]] = field(default_factory=list)
    _last: dict[str, float] | None = None
    _start: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        """Seconds since the sampler started (the ``t`` of the rows)."""
        return round(time.monotonic() - self._start, 2)

    async def sample(self) -> dict[str, float] | None:
        """Take a sample; return the row (None for the very first sample, which has nothing to compare)."""
        now = time.monotonic()
        counters = {**await video_counters(self.sender, self.receiver), "t": now}
        last, self._last = self._last, counters
        if last is None:
            return None
        dt = max(now - last["t"], 1e-6)
        got, lost = counters["packets"] - last["packets"], counters["lost"] - last["lost"]
        row = {
            "t": round(now - self._start, 2),
            "fps": round(self.sink.fps, 1),
            "kbps": round((counters["bytes"] - last["bytes"]) * 8 / dt / 1000, 1),
            "target_kbps": round(encoder_target(self.sender) / 1000, 1),
            "rtt_ms": round(counters["rtt"] * 1000, 2),
            "loss_pct": round(100 * lost / max(got + lost, 1), 2),
        }
        self.rows.append(row)
        return row


def mean_of(rows: list[dict[str, float]], key: str, start: float, end: float) -> float:
    """The mean of ``key`` over the rows with ``start < t <= end`` (NaN when there are none)."""
    values = [r[key] for r in rows if start < r["t"] <= end]
    return sum(values) / len(values) if values else float("nan")


Action = tuple[float, str, Callable[[], Any]]  # (at this many seconds, a label, do this)


async def live_plot(
    sampler: StatsSampler, seconds: float = 6.0, every: float = 0.5, redraw: float = 1.0, actions: Sequence[Action] = ()
) -> dict[str, float]:
    """Sample every ``every`` s for ``seconds`` s into one 4-panel plot, redrawn in place every ``redraw`` s.

    ``actions``: ``(t, label, fn)`` — at ``t`` s, call ``fn()`` and mark the moment with a
    labelled vertical line on every panel. Returns ``{label: the t it really ran at}``.
    The kbit/s panel shows what was sent (solid) and the encoder's target (dashed).
    Drawing costs CPU that the call's encoder needs too: keep ``redraw`` at a second or more.
    """
    import matplotlib.pyplot as plt
    from IPython.display import display

    columns = [
        ("fps", "frames/s received"),
        ("kbps", "video kbit/s sent (dashed: target)"),
        ("rtt_ms", "round-trip time (ms)"),
        ("loss_pct", "packets lost (%)"),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(13, 2.8))
    lines = []
    for ax, (_, label) in zip(axes, columns):
        lines.append(ax.plot([], [], marker=".", color=SENT)[0])
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("time (s)")
    target_line = axes[1].plot([], [], linestyle="--", color=TARGET)[0]  # the encoder's target
    fig.tight_layout()
    handle = display(fig, display_id=True)
    done: dict[str, float] = {}
    origin = sampler.elapsed()  # the plot's own time axis starts where the sampler is now

    def draw() -> None:
        rows = [r for r in sampler.rows if r["t"] > origin]
        for line, (key, _) in zip(lines, columns):
            line.set_data([r["t"] for r in rows], [r[key] for r in rows])
        target_line.set_data([r["t"] for r in rows], [r["target_kbps"] for r in rows])
        for ax, (key, _) in zip(axes, columns):
            values = [
                v for r in rows for v in ((r[key], r["target_kbps"]) if key == "kbps" else (r[key],)) if v == v
            ]  # not NaN
            ax.set_xlim(origin, max(origin + seconds, max((r["t"] for r in rows), default=0)))
            ax.set_ylim(0, max(values, default=0) * 1.1 or 1)
        if handle is not None:
            handle.update(fig)

    async def act() -> None:
        """Each action at its time, on the clock (not when a slow sample happens to end)."""
        for at, label, fn in sorted(actions, key=lambda a: a[0]):
            await asyncio.sleep(max(0.0, origin + at - sampler.elapsed()))
            fn()
            done[label] = sampler.elapsed()
            for ax in axes:
                ax.axvline(done[label], color=ACTION, linestyle=":")
            axes[1].annotate(
                label,
                (done[label], 1),
                xycoords=("data", "axes fraction"),
                xytext=(-3, -12),
                textcoords="offset points",
                fontsize=8,
                color=ACTION,
                ha="right",
            )

    acting = asyncio.ensure_future(act())
    deadline, drawn = time.monotonic() + seconds, time.monotonic()
    try:
        while time.monotonic() < deadline:
            await sampler.sample()
            if time.monotonic() - drawn >= redraw:
                draw()
                drawn = time.monotonic()
            await asyncio.sleep(max(0.0, min(every, deadline - time.monotonic())))
        await acting  # an action scheduled after the end still runs, and fails loudly if it fails
    finally:
        acting.cancel()
    draw()  # the last samples, whatever the redraw rhythm
    plt.close(fig)
    return done


# one colour per thing measured, the same in every plot of chapter 5
SENT, TARGET, ACTION = "#4c72b0", "#dd8452", "#c44e52"


def cap_bitrate(pc: RTCPeerConnection, bps: int) -> int:
    """Cap the video encoder's bitrate at ``bps``; return the cap aiortc will actually apply.

    How far aiortc allows it — honestly: a browser would take
    ``sender.setParameters({encodings: [{maxBitrate}]})``; aiortc's senders have no
    ``setParameters()``. Its
    VP8 encoder follows the receiver's estimate (REMB, sent every second or so)
    between 250 kbit/s and 1.5 Mbit/s. So the cap wraps the encoder so that every
    later estimate is clamped at ``bps`` — reaching into aiortc's private
    attributes, and never below its 250 kbit/s floor.
    """
    encoder = _video_encoder(pc)
    if encoder is None or not hasattr(encoder, "target_bitrate"):
        raise ValueError("no video encoder yet: cap the bitrate once the call is sending video")
    base = type(encoder)
    if getattr(base, "_capped", False):
        base = base.__bases__[0]
    cap = {"bps": bps}

    def _set(self: Any, value: int) -> None:
        base.target_bitrate.fset(self, min(value, cap["bps"]))

    encoder.__class__ = type(
        f"Capped{base.__name__}", (base,), {"_capped": True, "target_bitrate": property(base.target_bitrate.fget, _set)}
    )
    encoder.target_bitrate = bps
    return encoder.target_bitrate
