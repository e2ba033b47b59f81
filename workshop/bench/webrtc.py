"""``workshop bench webrtc``: call set-up and media rate, against bare aiortc in the same run.

Measures, in one run, everything on loopback:

1. **set-up time** (offer created → both peers connected), measured as **interleaved pairs**:
   each round times a *bare aiortc* call (two peer connections handing each other their SDP
   directly: the ceiling), a *host* call through the signaling server and a *relay* call through
   the signaling server and a throw-away coturn (TURN credentials issued by the server,
   relay-only policy), one after the other, after one untimed warm-up round. Each call's ratio to
   the bare call of its own round is one pair; the report gives the median ratio of the pairs, their
   spread (q1–q3, min–max) and the verdict of :func:`workshop.bench._report.judge`: met, missed,
   or *unstable* when the spread straddles the target;
2. **frames/s received** over a host call of 640x480 at 30 fps for 10 s, against what the
   sender produced, with the **CPU** this process used meanwhile (100 % = one core);
3. the signaling server's **relay overhead per message**: an ``ice_candidate`` bounced
   between two Socket.IO clients (half the round trip), and the server's checks alone.

Targets (ratios within the run, machines differ): relay call connected in under 1 s and
within 2x bare aiortc; ≥ 29 frames/s of 640x480 received, ≥ 0.95x what was sent.

A relay call used to take ~0.5 s more: the answerer's first connectivity check reached the
caller's TURN allocation before the caller had installed a permission for it, coturn dropped
it, and aioice sent it again after its 500 ms STUN timeout. The answerer now holds that check
back until the caller's own check has come through (:mod:`workshop.webrtc.permission`).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import time
from typing import Any

from aiortc import RTCPeerConnection

from workshop.bench._report import PAIRS, Figure, parser, save_json, verdict_lines
from workshop.webrtc.call import loopback_call, synthetic_media
from workshop.webrtc.limits import Limits
from workshop.webrtc.peer import CallError, host_addresses, rtc_config, selected_pair, wait_connected
from workshop.webrtc.relay import TurnServer
from workshop.webrtc.signaling import check_relay, create_app, serve
from workshop.webrtc.tracks import PatternVideoTrack

FULL = {"pairs": 11, "width": 640, "height": 480, "fps": 30, "seconds": 10.0, "messages": 300}
QUICK = {"pairs": PAIRS, "width": 160, "height": 120, "fps": 10, "seconds": 2.0, "messages": 50}
UNLIMITED = Limits(per_socket_rate=1e6, per_socket_burst=10**6, per_address_rate=1e6, per_address_burst=10**6)


async def bare_setup(media: Any) -> float:
    """Seconds from createOffer to both connected, two peer connections and no server between them."""
    a, b = RTCPeerConnection(rtc_config([])), RTCPeerConnection(rtc_config([]))
    try:
        for track in media():
            a.addTrack(track)
        for track in media():
            b.addTrack(track)
        start = time.perf_counter()
        with host_addresses(["127.0.0.1"]):
            await a.setLocalDescription(await a.createOffer())
            await b.setRemoteDescription(a.localDescription)
            await b.setLocalDescription(await b.createAnswer())
        await a.setRemoteDescription(b.localDescription)
        await asyncio.gather(wait_connected(a, 10), wait_connected(b, 10))
        return time.perf_counter() - start
    finally:
        await asyncio.gather(a.close(), b.close())


async def call_setup(url: str, secret: str, relay: bool, media: Any) -> tuple[float, bool]:
    """Seconds from the first join to both connected through the signaling server; was it relayed?"""
    start = time.perf_counter()
    async with loopback_call(url, secret, relay=relay, media=media) as call:
        took = time.perf_counter() - start
        assert call.caller.pc is not None  # connected: loopback_call returned
        return took, selected_pair(call.caller.pc)["relayed"]


async def frame_rate(url: str, secret: str, cfg: dict[str, Any]) -> dict[str, float]:
    """A host call of cfg's size for cfg's seconds: frames/s received and sent, and CPU use."""
    tracks: list[PatternVideoTrack] = []

    def media() -> list[Any]:
        track = PatternVideoTrack(cfg["width"], cfg["height"], cfg["fps"])
        tracks.append(track)
        return [track]

    async with loopback_call(url, secret, media=media) as call:
        await call.first_frame(timeout=10)
        sender = call.caller.tracks[0]
        sink = call.callee.sink
        assert sink is not None  # first_frame() returned: the callee receives
        got0, sent0, cpu0, t0 = sink.frames, sender.sent, time.process_time(), time.perf_counter()
        await asyncio.sleep(cfg["seconds"])
        got, sent, cpu, wall = (
            sink.frames - got0,
            sender.sent - sent0,
            time.process_time() - cpu0,
            time.perf_counter() - t0,
        )
    return {
        "received_fps": got / wall,
        "sent_fps": sent / wall,
        "ratio": got / max(sent, 1),
        "cpu_pct": 100 * cpu / wall,
    }


async def relay_overhead(url: str, secret: str, n: int) -> float:
    """Median one-way time (s) of an ice_candidate relayed by the server between two clients."""
    from workshop.webrtc.call import SignalingPeer
    from workshop.webrtc.tokens import room_token

    room = "bench"
    token = room_token(secret, room)
    a = await SignalingPeer("a", url, room, token, ice_servers=[]).start()
    b_seen: asyncio.Queue = asyncio.Queue()
    a_seen: asyncio.Queue = asyncio.Queue()
    import socketio

    b = socketio.AsyncClient(reconnection=False)
    b.on("ice_candidate", lambda data: b_seen.put_nowait(data))
    a.sio.on("ice_candidate", lambda data: a_seen.put_nowait(data))
    await b.connect(url, transports=["websocket"], wait_timeout=5)
    await b.emit("join_room", {"room": room, "token": token})
    await asyncio.sleep(0.2)
    candidate = {
        "candidate": "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
    }
    times = []
    try:
        for _ in range(n):
            start = time.perf_counter()
            await a.sio.emit("ice_candidate", {"target": b.get_sid(), "candidate": candidate})
            await asyncio.wait_for(b_seen.get(), 5)
            await b.emit("ice_candidate", {"target": a.sio.get_sid(), "candidate": candidate})
            await asyncio.wait_for(a_seen.get(), 5)
            times.append((time.perf_counter() - start) / 2)
    finally:
        await b.disconnect()
        await a.close()
    return statistics.median(times)


def check_cost(n: int = 2000) -> float:
    """Seconds the server's checks take for one offer of a typical size (3 kB of SDP)."""
    data = {"target": "x", "offer": {"type": "offer", "sdp": "a=candidate:1 1 udp 1 127.0.0.1 1 typ host\r\n" * 70}}
    start = time.perf_counter()
    for _ in range(n):
        check_relay("offer", data)
    return (time.perf_counter() - start) / n


SETUPS = ("set-up: bare aiortc (ceiling)", "set-up: host via signaling", "set-up: relay (TURN) via signaling")


async def setup_pairs(url: str, secret: str, media: Any, pairs: int) -> list[dict[str, Any]]:
    """``pairs`` rounds of bare, host, relay set-up (after one untimed warm-up round): one row each."""
    await bare_setup(media)  # warm-up: the first call of a process pays for imports and codec set-up
    for relay in (False, True):
        await call_setup(url, secret, relay, media)
    bare: list[float] = []
    calls: dict[bool, list[tuple[float, bool]]] = {False: [], True: []}
    # coturn keeps a deleted allocation's 5-tuple until its next one-second tick: a new UDP socket that
    # the kernel happens to give the same port within that second is refused (437 Allocation Mismatch),
    # and that call has no relay candidate. Rare (a random port out of ~28,000), but a run of many calls
    # may meet it: the round is measured again, and the report says so.
    failed: list[str] = []
    while len(bare) < pairs:
        try:
            base = await bare_setup(media)
            host = await call_setup(url, secret, False, media)
            relayed = await call_setup(url, secret, True, media)
        except CallError as exc:
            failed.append(str(exc))
            if len(failed) > max(2, pairs // 4):
                raise
            continue
        bare.append(base)
        calls[False].append(host)
        calls[True].append(relayed)
    rows = [
        {
            "name": SETUPS[0],
            "value": statistics.median(bare),
            "unit": "s",
            "vs_bare": 1.0,
            "values": bare,
            "failed": failed,
        }
    ]
    for relay in (False, True):
        fig = Figure(
            "5 WebRTC", SETUPS[1 + relay], "s", "bare aiortc", higher_is_better=False, target=2.0 if relay else None
        )
        for (took, _), base in zip(calls[relay], bare):
            fig.add(took, base)
        d = fig.as_dict()
        rows.append(
            {
                "name": SETUPS[1 + relay],
                "value": d["value"]["median"],
                "unit": "s",
                "vs_bare": d["ratio"]["median"],  # the median of the pairs' ratios
                "values": fig.values,
                "ratio": d["ratio"],
                "verdict": d["verdict"],
                "relayed": all(r[1] for r in calls[relay]),
            }
        )
    return rows


async def run(cfg: dict[str, Any]) -> list[dict[str, Any]]:
    secret, turn_secret = secrets.token_urlsafe(16), secrets.token_urlsafe(16)  # room tokens; TURN credentials
    media = synthetic_media(cfg["width"] // 2, cfg["height"] // 2, cfg["fps"])
    rows: list[dict[str, Any]] = []
    async with TurnServer(turn_secret) as turn:
        runner, url = await serve(create_app(secret, turn_url=turn.url, turn_secret=turn_secret, limits=UNLIMITED))
        try:
            rows += await setup_pairs(url, secret, media, cfg["pairs"])
            rate = await frame_rate(url, secret, cfg)
            size = f"{cfg['width']}x{cfg['height']}@{cfg['fps']}"
            rows.append(
                {
                    "name": f"frames/s received, {size}",
                    "value": rate["received_fps"],
                    "unit": "fps",
                    "vs_sent": rate["ratio"],
                    "sent_fps": rate["sent_fps"],
                }
            )
            rows.append({"name": "CPU of this process during it", "value": rate["cpu_pct"], "unit": "% of a core"})
            rows.append(
                {
                    "name": "signaling relay, one way",
                    "value": await relay_overhead(url, secret, cfg["messages"]),
                    "unit": "s",
                }
            )
            rows.append({"name": "signaling checks per offer", "value": check_cost(), "unit": "s"})
        finally:
            await runner.cleanup()
    return rows


def _shown(row: dict[str, Any]) -> str:
    value, unit = row["value"], row["unit"]
    if unit == "s":
        return f"{value * 1000:.3f} ms" if value < 0.01 else f"{value:.3f} s"
    return f"{value:.1f} {unit}"


def _spread(row: dict[str, Any]) -> str:
    r = row.get("ratio")
    if not r or r["min"] == r["max"]:
        return ""
    return f"{r['q1']:.2f}–{r['q3']:.2f}x (min {r['min']:.2f}, max {r['max']:.2f}, {len(row['values'])} pairs)"


def table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'benchmark':<36} {'result':>16} {'vs':>10}  spread"]
    for row in rows:
        vs = (
            f"{row['vs_bare']:.2f}x bare"
            if "vs_bare" in row
            else f"{row['vs_sent']:.2f}x sent"
            if "vs_sent" in row
            else ""
        )
        lines.append(f"{row['name']:<36} {_shown(row):>16} {vs:>10}  {_spread(row)}".rstrip())
    return "\n".join(lines)


def verdicts(rows: list[dict[str, Any]], cfg: dict[str, Any]) -> list[tuple[str, bool | None]]:
    """Each target met (True), missed (False) or, for the set-up ratio, unstable (None: see ``_report.judge``)."""
    by = {r["name"]: r for r in rows}
    relay = by["set-up: relay (TURN) via signaling"]
    fps = next(r for r in rows if r["name"].startswith("frames/s"))
    return [
        ("relay call connected in under 1 s (median)", relay["value"] < 1.0),
        (
            f"relay call set-up within 2x bare aiortc (median of {len(relay['values'])} interleaved pairs)",
            {"met": True, "missed": False}.get(relay["verdict"]),
        ),
        ("relay proved by the nominated candidate pair", bool(relay.get("relayed"))),
        (
            f"≥ 29 frames/s of {cfg['width']}x{cfg['height']} received"
            if cfg["fps"] >= 29
            else f"≥ 0.95x of {cfg['fps']} frames/s received (quick run)",
            fps["value"] >= 29 if cfg["fps"] >= 29 else fps["vs_sent"] >= 0.95,
        ),
        ("received ≥ 0.95x of what was sent", fps["vs_sent"] >= 0.95),
    ]


def main(argv: list[str]) -> int:
    p = parser("webrtc", __doc__)
    p.add_argument("--quick", action="store_true", help=f"tiny: {PAIRS} pairs of set-ups, 160x120 at 10 fps for 2 s")
    p.add_argument("--seconds", type=float, help="how long to stream (default 10, quick 2)")
    p.add_argument("--pairs", type=int, help=f"interleaved set-up pairs (default {FULL['pairs']}, quick {PAIRS})")
    args = p.parse_args(argv)
    cfg = dict(QUICK if args.quick else FULL)
    if args.pairs is not None:
        if args.pairs < 1:
            p.error("--pairs must be at least 1")
        cfg["pairs"] = args.pairs
    if args.seconds is not None:
        if args.seconds <= 0:
            p.error("--seconds must be positive")
        cfg["seconds"] = args.seconds
    rows = asyncio.run(run(cfg))
    print(table(rows))
    checks = verdicts(rows, cfg)
    targets = verdict_lines(checks)
    for why in rows[0]["failed"]:
        print(f"note: one round of set-ups failed and was measured again: {why}")
    if checks[1][1] is None:
        print(
            "note: the pairs' middle half straddles 2x: the machine is too noisy to judge it; run again when it is quieter"
        )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"(on {os.cpu_count()} CPU(s), load average {load}; the signaling rows run with rate limits off, "
        "to time the relay itself)"
    )
    save_json(args.json, {"benchmark": "webrtc", "config": cfg, "results": rows, "targets": targets})
    return 0
