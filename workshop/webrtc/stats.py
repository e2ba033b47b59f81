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


@dataclass
class StatsSampler:
    """Samples one direction of a call (``sender`` → ``receiver``) into rows of a table."""

    sender: RTCPeerConnection
    receiver: RTCPeerConnection
    sink: FrameSink
    rows: list[dict[str, float]] = field(default_factory=list)
    _last: dict[str, float] | None = None
    _start: float = field(default_factory=time.monotonic)

    async def sample(self) -> dict[str, float] | None:
        """Take a sample; return the row (None for the very first sample, which has nothing to compare)."""
        now = time.monotonic()
        counters = {**await video_counters(self.sender, self.receiver), "t": now}
        last, self._last = self._last, counters
        if last is None:
            return None
        dt = max(now - last["t"], 1e-6)
        got, lost = counters["packets"] - last["packets"], counters["lost"] - last["lost"]
        row = {"t": round(now - self._start, 2), "fps": round(self.sink.fps, 1),
               "kbps": round((counters["bytes"] - last["bytes"]) * 8 / dt / 1000, 1),
               "rtt_ms": round(counters["rtt"] * 1000, 2), "loss_pct": round(100 * lost / max(got + lost, 1), 2)}
        self.rows.append(row)
        return row


async def live_plot(sampler: StatsSampler, seconds: float = 6.0, every: float = 0.5,
                    redraw: float = 1.0) -> list[dict[str, float]]:
    """Sample every ``every`` s for ``seconds`` s, redrawing a 4-panel plot in place every ``redraw`` s.

    Drawing costs CPU that the call's encoder needs too: keep ``redraw`` at a second or more.
    """
    import matplotlib.pyplot as plt
    from IPython.display import display

    columns = [("fps", "frames/s"), ("kbps", "kbit/s sent"), ("rtt_ms", "RTT (ms)"), ("loss_pct", "loss (%)")]
    fig, axes = plt.subplots(1, 4, figsize=(13, 2.6))
    lines = []
    for ax, (_, label) in zip(axes, columns):
        lines.append(ax.plot([], [], marker=".")[0])
        ax.set_title(label)
        ax.set_xlabel("s")
    fig.tight_layout()
    handle = display(fig, display_id=True)
    deadline, drawn = time.monotonic() + seconds, time.monotonic()
    while time.monotonic() < deadline:
        await sampler.sample()
        if time.monotonic() - drawn >= redraw or time.monotonic() + every >= deadline:
            for ax, line, (key, _) in zip(axes, lines, columns):
                line.set_data([r["t"] for r in sampler.rows], [r[key] for r in sampler.rows])
                ax.relim()
                ax.autoscale_view()
            if handle is not None:
                handle.update(fig)
            drawn = time.monotonic()
        await asyncio.sleep(every)
    plt.close(fig)
    return sampler.rows


def cap_bitrate(pc: RTCPeerConnection, bps: int) -> int:
    """Cap the video encoder's bitrate at ``bps``; return the cap aiortc will actually apply.

    How far aiortc allows it — honestly: a browser would take
    ``sender.setParameters({encodings: [{maxBitrate}]})``; aiortc ignores that. Its
    VP8 encoder follows the receiver's estimate (REMB, sent every second or so)
    between 250 kbit/s and 1.5 Mbit/s. So the cap wraps the encoder so that every
    later estimate is clamped at ``bps`` — reaching into aiortc's private
    attributes, and never below its 250 kbit/s floor.
    """
    for sender in pc.getSenders():
        if sender.track is None or sender.track.kind != "video":
            continue
        encoder = getattr(sender, "_RTCRtpSender__encoder", None)
        if encoder is None or not hasattr(encoder, "target_bitrate"):
            raise ValueError("no video encoder yet: cap the bitrate once the call is sending video")
        base = type(encoder)
        if getattr(base, "_capped", False):
            base = base.__bases__[0]
        cap = {"bps": bps}

        def _set(self: Any, value: int) -> None:
            base.target_bitrate.fset(self, min(value, cap["bps"]))

        encoder.__class__ = type(f"Capped{base.__name__}", (base,), {
            "_capped": True, "target_bitrate": property(base.target_bitrate.fget, _set)})
        encoder.target_bitrate = bps
        return encoder.target_bitrate
    raise ValueError("this peer connection sends no video")
