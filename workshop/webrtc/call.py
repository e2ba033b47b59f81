"""A WebRTC peer that finds the other side through the signaling server — and a loopback call of two.

:class:`SignalingPeer` speaks the course's protocol with python-socketio:
it joins a room with its token, takes the TURN credentials the server hands out
(``ice_servers``), and calls whoever is already in the room (``room_users`` — no
hard-coded target). The one that arrives second makes the offer; the other answers.
A peer that leaves is noticed (``user_left``); when it comes back, the call is made again.
The Socket.IO client reconnects by itself and rejoins the room on every (re)connect.

    async with loopback_call(url, secret, relay=True) as call:
        call.callee.sink.image()              # a received frame
        selected_pair(call.caller.pc)         # {'local': 'relay 127.0.0.1:…', …, 'relayed': True}
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any

import socketio
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from workshop.waiting import stop_task
from workshop.webrtc.peer import CallError, check_turn, host_addresses, rtc_config, wait_connected
from workshop.webrtc.permission import hold_candidates, open_permissions, release
from workshop.webrtc.tokens import room_token
from workshop.webrtc.tracks import FrameSink, PatternVideoTrack, ToneTrack

Tracks = Callable[[], list[Any]]


def synthetic_media(width: int = 320, height: int = 240, fps: int = 15, noise: bool = False) -> Tracks:
    """A factory of fresh tracks for each new connection: the pattern video and a 440 Hz tone."""
    return lambda: [PatternVideoTrack(width, height, fps, noise), ToneTrack(440.0)]


LIVE: weakref.WeakSet[SignalingPeer] = weakref.WeakSet()  # peers not closed yet (the lab closes its own)


class SignalingPeer:
    """One aiortc peer in a signaling room."""

    def __init__(
        self,
        name: str,
        url: str,
        room: str,
        token: str,
        *,
        relay: bool = False,
        ice_servers: list[dict[str, Any]] | None = None,
        media: Tracks | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.name, self.url, self.room, self.token = name, url, room, token
        self.relay, self.timeout = relay, timeout
        self.fixed_servers = ice_servers  # None: take what the signaling server hands out
        self.ice_servers: list[dict[str, Any]] = []
        self.media = media or synthetic_media()
        self.pc: RTCPeerConnection | None = None
        self.remote: str | None = None
        self.sinks: list[FrameSink] = []
        self.tracks: list[Any] = []
        self.errors: list[dict[str, Any]] = []
        self.joined = asyncio.Event()
        self.failure: BaseException | None = None  # what went wrong inside an event handler
        self.calls = 0  # connections made (a reconnection adds one)
        self._lock = asyncio.Lock()  # socket.io handlers run as separate tasks: keep offer/answer/candidates in order
        self._pending: list[Any] = []  # candidates that arrived before their offer/answer
        self._release: asyncio.Task[None] | None = None  # hands the offer's held candidates over (relay)
        # reconnects by itself (about a minute of attempts), and rejoins on every connect
        self.sio = socketio.AsyncClient(
            reconnection=True, reconnection_delay=0.2, reconnection_delay_max=1.0, reconnection_attempts=60
        )
        LIVE.add(self)
        for event in (
            "connect",
            "room_users",
            "ice_servers",
            "user_joined",
            "user_left",
            "offer",
            "answer",
            "ice_candidate",
            "error",
        ):
            self.sio.on(event, getattr(self, f"_on_{event}"))

    @property
    def sink(self) -> FrameSink | None:
        """The received video's sink."""
        return next((s for s in self.sinks if s.kind == "video"), None)

    async def start(self) -> SignalingPeer:
        """Connect and join the room; :class:`CallError` when the server refuses or does not answer."""
        try:
            await self.sio.connect(self.url, transports=["websocket"], wait_timeout=self.timeout)
            await asyncio.wait_for(self.joined.wait(), self.timeout)
        except (TimeoutError, socketio.exceptions.ConnectionError) as exc:
            await self.close()
            why = "; ".join(e["message"] for e in self.errors) or str(exc) or "no answer"
            raise CallError(f"{self.name} could not join room {self.room!r} at {self.url}: {why}") from None
        return self

    # --- signaling events --------------------------------------------------------------------

    async def _on_connect(self) -> None:  # also after a reconnection: join again
        await self.sio.emit("join_room", {"room": self.room, "token": self.token})

    async def _on_ice_servers(self, servers: list[dict[str, Any]]) -> None:
        self.ice_servers = servers

    async def _on_room_users(self, users: list[str]) -> None:
        self.joined.set()
        others = [u for u in users if u != self.sio.get_sid()]
        if others:
            try:
                await self.call(others[0])
            except Exception as exc:  # handlers run as tasks: keep the error for connected()
                self.failure = exc

    async def _on_user_joined(self, sid: str) -> None:
        pass  # the newcomer calls us (it got room_users)

    async def _on_user_left(self, sid: str) -> None:
        if sid == self.remote:
            await self.hang_up()

    async def _on_error(self, error: dict[str, Any]) -> None:
        self.errors.append(error)

    async def _on_offer(self, data: dict[str, Any]) -> None:
        async with self._lock:
            await self.hang_up(keep_lock=True)
            pc = self._new_pc(data["sender"])
            offer = RTCSessionDescription(**data["offer"])
            held: list[Any] = []
            if self.relay:  # the first check waits for the caller's TURN permission: see permission.py
                offer, held = hold_candidates(offer)
            await pc.setRemoteDescription(offer)
            await self._flush_candidates()
            await pc.setLocalDescription(await pc.createAnswer())  # gathers all candidates (no trickle)
            if held:
                open_permissions(pc, held)
                await asyncio.sleep(0)  # the channel binding leaves before the answer does
                self._release = asyncio.create_task(release(pc, held), name=f"{self.name}: held candidates")
            await self.sio.emit("answer", {"target": data["sender"], "answer": _description(pc)})

    async def _on_answer(self, data: dict[str, Any]) -> None:
        async with self._lock:
            if self.pc is not None and data["sender"] == self.remote:
                await self.pc.setRemoteDescription(RTCSessionDescription(**data["answer"]))
                await self._flush_candidates()

    async def _on_ice_candidate(self, data: dict[str, Any]) -> None:
        """A browser trickles its candidates; aiortc puts its own in the SDP and sends none."""
        c = data.get("candidate")
        if not c or not c.get("candidate"):
            return  # end of candidates
        candidate = candidate_from_sdp(c["candidate"].removeprefix("candidate:"))
        candidate.sdpMid, candidate.sdpMLineIndex = c.get("sdpMid"), c.get("sdpMLineIndex")
        async with self._lock:
            self._pending.append(candidate)
            await self._flush_candidates()

    async def _flush_candidates(self) -> None:
        if self.pc is not None and self.pc.remoteDescription is not None:
            while self._pending:
                await self.pc.addIceCandidate(self._pending.pop(0))

    # --- the call ----------------------------------------------------------------------------

    def _config(self) -> Any:
        servers = self.fixed_servers if self.fixed_servers is not None else self.ice_servers
        return rtc_config(servers, relay=self.relay)

    def _new_pc(self, remote: str) -> RTCPeerConnection:
        pc = RTCPeerConnection(self._config())
        self.pc, self.remote = pc, remote
        self.calls += 1
        self.tracks = self.media()
        for track in self.tracks:
            pc.addTrack(track)

        @pc.on("track")
        def on_track(track: Any) -> None:
            self.sinks.append(FrameSink(track))

        return pc

    async def call(self, target: str) -> None:
        """Offer a call to ``target`` (a sid from ``room_users``)."""
        async with self._lock:
            if self.relay:
                await check_turn(self._config_servers())
            await self.hang_up(keep_lock=True)
            pc = self._new_pc(target)
            await pc.setLocalDescription(await pc.createOffer())
            await self.sio.emit("offer", {"target": target, "offer": _description(pc)})

    def _config_servers(self) -> list[dict[str, Any]]:
        return self.fixed_servers if self.fixed_servers is not None else self.ice_servers

    async def connected(self, timeout: float = 10.0) -> None:
        """Wait until the media connection is up (:class:`CallError` otherwise)."""

        async def have_pc() -> RTCPeerConnection:
            while self.pc is None:
                if self.failure is not None:
                    raise self.failure
                await asyncio.sleep(0.02)
            return self.pc

        try:
            pc = await asyncio.wait_for(have_pc(), timeout)
        except TimeoutError:
            raise CallError(f"{self.name}: nobody called within {timeout:g} s") from None
        await wait_connected(pc, timeout, what=f"{self.name}'s call")

    async def wait_for_call(self, timeout: float = 60.0) -> bool:
        """Wait until someone called and the media connection is up: True; False once ``timeout`` s passed.

        The peer stays in the room either way (a later caller still gets through).
        """
        from workshop.waiting import WaitTimeout, until

        try:
            await until(
                lambda: self.pc is not None and self.pc.connectionState == "connected",
                timeout=timeout,
                every=0.1,
                what="a call",
            )
            return True
        except WaitTimeout:
            return False

    async def call_ended(self, timeout: float = 300.0) -> bool:
        """Wait while a call is on: True when the other side hung up or the connection failed, False at ``timeout``."""
        from workshop.waiting import WaitTimeout, until

        try:
            await until(
                lambda: self.pc is None or self.pc.connectionState in ("failed", "closed"),
                timeout=timeout,
                every=0.2,
                what="the end of the call",
            )
            return True
        except WaitTimeout:
            return False

    async def hang_up(self, keep_lock: bool = False) -> None:
        """Close the peer connection (the signaling connection stays)."""
        pc, self.pc, self.remote = self.pc, None, None
        task, self._release = self._release, None
        if task is not None:
            await stop_task(task, raise_error=False)
        sinks, self.sinks = self.sinks, []
        for sink in sinks:
            await sink.stop()
        if pc is not None:
            await pc.close()

    async def close(self) -> None:
        LIVE.discard(self)
        await self.hang_up()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.sio.disconnect(), 3)


def _description(pc: RTCPeerConnection) -> dict[str, str]:
    return {"type": pc.localDescription.type, "sdp": pc.localDescription.sdp}


@contextlib.asynccontextmanager
async def loopback_call(
    url: str,
    secret: str,
    *,
    relay: bool = False,
    room: str | None = None,
    media: Tracks | None = None,
    timeout: float = 10.0,
    addresses: list[str] | None = None,
) -> AsyncIterator[LoopbackCall]:
    """Two :class:`SignalingPeer` in this process, in a fresh room, connected; closed on exit.

    ``relay=False``: host candidates on ``addresses`` (default loopback only) and no
    STUN/TURN; ``relay=True``: TURN only, with the credentials the signaling server issues.
    """
    room = room or f"call-{uuid.uuid4().hex[:8]}"
    token = room_token(secret, room, ttl=600)
    fixed: list[dict[str, Any]] | None = None if relay else []
    with host_addresses(addresses or ["127.0.0.1"]):
        callee = SignalingPeer("callee", url, room, token, relay=relay, ice_servers=fixed, media=media)
        caller = SignalingPeer("caller", url, room, token, relay=relay, ice_servers=fixed, media=media)
        try:
            await callee.start()
            await caller.start()  # arrives second: it makes the offer
            await asyncio.gather(caller.connected(timeout), callee.connected(timeout))
            yield LoopbackCall(caller, callee)
        finally:
            await asyncio.gather(caller.close(), callee.close(), return_exceptions=True)


class LoopbackCall:
    """The two peers of :func:`loopback_call`."""

    def __init__(self, caller: SignalingPeer, callee: SignalingPeer) -> None:
        self.caller, self.callee = caller, callee

    async def first_frame(self, timeout: float = 5.0) -> Any:
        """Wait for the callee's first received video frame; return it as an RGB array."""
        from workshop.waiting import until

        sink = await until(
            lambda: self.callee.sink if self.callee.sink is not None and self.callee.sink.last is not None else None,
            timeout=timeout,
            what="the first received video frame",
        )
        return sink.image()
