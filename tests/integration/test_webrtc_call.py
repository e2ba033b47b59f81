"""aiortc calls through the real signaling server and a throw-away coturn, all on loopback.

Small video (160x120 at 10 fps) keeps the two shared CPU cores free; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription

from workshop.process import free_port
from workshop.webrtc.call import SignalingPeer, loopback_call, synthetic_media
from workshop.webrtc.peer import CallError, host_addresses, ice_connection, rtc_config, selected_pair, wait_connected
from workshop.webrtc.permission import hold_candidates, release
from workshop.webrtc.relay import TurnServer
from workshop.webrtc.signaling import create_app, serve
from workshop.webrtc.tokens import room_token
from workshop.webrtc.tracks import PatternVideoTrack, read_number

pytestmark = pytest.mark.timeout(90)

SECRET = "test-secret-call"  # room tokens
TURN_SECRET = "test-secret-call-turn"  # the throw-away coturn's
SMALL = synthetic_media(160, 120, 10)


async def signaling(turn_url: str | None) -> tuple[web.AppRunner, str]:
    return await serve(create_app(SECRET, turn_url=turn_url, turn_secret=TURN_SECRET))


@pytest.fixture(scope="module")
def turn_secret() -> str:
    return TURN_SECRET


@pytest.fixture
async def turn() -> AsyncIterator[TurnServer]:
    async with TurnServer(TURN_SECRET) as server:
        yield server


@pytest.fixture
async def url(turn: TurnServer) -> AsyncIterator[str]:
    runner, address = await signaling(turn.url)
    yield address
    await asyncio.wait_for(runner.cleanup(), 10)


async def test_host_call_on_loopback_delivers_numbered_frames(url):
    start = time.monotonic()
    async with loopback_call(url, SECRET, media=SMALL) as call:
        took = time.monotonic() - start
        pair = selected_pair(call.caller.pc)
        assert pair["local"].startswith("host 127.0.0.1:") and not pair["relayed"], pair
        first = await call.first_frame()
        assert first.shape == (120, 160, 3)
        await asyncio.sleep(1.0)
        later = call.callee.sink.image()
        numbers = read_number(first), read_number(later)
        assert numbers[0] is not None and numbers[1] is not None and numbers[1] > numbers[0], numbers
        assert call.caller.sink.frames > 0, "no video came back the other way"
        audio = [s for s in call.callee.sinks if s.kind == "audio"]
        assert audio and audio[0].frames > 10, "no audio frames arrived"
    assert took < 5, f"host call took {took:.1f} s to connect"


async def test_relay_call_goes_through_coturn(url):
    start = time.monotonic()
    async with loopback_call(url, SECRET, relay=True, media=SMALL) as call:
        took = time.monotonic() - start
        for peer in (call.caller, call.callee):
            pair = selected_pair(peer.pc)
            assert pair["relayed"] and pair["local"].startswith("relay 127.0.0.1:"), pair
            # the credentials came from the signaling server, signed for this socket
            assert any(s.get("username", "").endswith(peer.sio.get_sid().replace(":", "_")) for s in peer.ice_servers)
        await call.first_frame()
    assert took < 5, f"relay call took {took:.1f} s to connect"


async def test_in_a_relay_call_the_answerer_checks_only_once_the_callers_check_came_through(url, caplog):
    """Its first check would reach the caller's TURN allocation before any permission: coturn would drop it."""
    caplog.set_level(logging.INFO, logger="aioice.ice")
    async with loopback_call(url, SECRET, relay=True, media=SMALL) as call:
        callee = repr(ice_connection(call.callee.pc))  # "Connection(7)": how aioice names it in its log
        pair = selected_pair(call.callee.pc)
    said = [r.getMessage()[len(callee) + 1 :] for r in caplog.records if r.getMessage().startswith(callee + " ")]
    learnt = next((i for i, line in enumerate(said) if line.startswith("Discovered peer reflexive candidate")), None)
    first_check = next(i for i, line in enumerate(said) if line.endswith("-> State.IN_PROGRESS"))
    assert learnt is not None and learnt < first_check, said  # its first check answered the caller's (triggered)
    assert any(" signalled as " in line for line in said), said  # then the held candidates went in
    assert pair["remote"].startswith("relay ") and pair["relayed"], pair


async def test_held_candidates_go_in_after_the_grace_when_no_check_comes():
    """A caller whose check never comes: after the grace, plain ICE — and the call still connects."""
    a, b = RTCPeerConnection(rtc_config([])), RTCPeerConnection(rtc_config([]))
    task = None
    try:
        with host_addresses(["127.0.0.1"]):
            a.addTrack(PatternVideoTrack(160, 120, 10))
            await a.setLocalDescription(await a.createOffer())
            offer, held = hold_candidates(a.localDescription)
            await b.setRemoteDescription(offer)
            await b.setLocalDescription(await b.createAnswer())
        task = asyncio.create_task(release(b, held, grace=0.3))
        await asyncio.sleep(0.1)
        assert ice_connection(b).remote_candidates == []  # held: the answerer sends no check
        await asyncio.wait_for(task, 2)
        assert [c.port for c in ice_connection(b).remote_candidates] == [held[0].port]
        await a.setRemoteDescription(b.localDescription)  # the answer arrives late: plain ICE connects
        await asyncio.gather(wait_connected(a, 5), wait_connected(b, 5))
    finally:
        if task is not None:
            task.cancel()
        await asyncio.gather(a.close(), b.close())


@pytest.mark.parametrize(
    "turn, error", [("another secret", r"refused the credentials \(401\)"), ("nothing listening", "unreachable")]
)
async def test_a_turn_failure_is_a_clear_error_within_seconds(turn, error):
    async with contextlib.AsyncExitStack() as stack:
        if turn == "another secret":  # a coturn whose static-auth-secret is not the one the server signs with
            turn_url = (await stack.enter_async_context(TurnServer("not-our-turn-secret"))).url
        else:
            turn_url = f"turn:127.0.0.1:{free_port(udp=True)}"
        runner, address = await signaling(turn_url)
        stack.push_async_callback(runner.cleanup)
        start = time.monotonic()
        with pytest.raises(CallError, match=error):
            async with loopback_call(address, SECRET, relay=True, media=SMALL, timeout=8):
                pass
        assert time.monotonic() - start < 5


async def test_failed_ice_ends_in_a_clear_error_within_seconds():
    """Candidates that lead nowhere (the answer's ports point at a closed port): ICE never connects."""
    dead = free_port(udp=True)

    def nowhere(sdp: str) -> str:
        return re.sub(r"(candidate:\S+ \d \S+ \d+ 127\.0\.0\.1) \d+", rf"\1 {dead}", sdp)

    a, b = RTCPeerConnection(rtc_config([])), RTCPeerConnection(rtc_config([]))
    try:
        with host_addresses(["127.0.0.1"]):
            a.addTrack(PatternVideoTrack(160, 120, 10))
            await a.setLocalDescription(await a.createOffer())
            await b.setRemoteDescription(RTCSessionDescription(sdp=nowhere(a.localDescription.sdp), type="offer"))
            await b.setLocalDescription(await b.createAnswer())
        await a.setRemoteDescription(RTCSessionDescription(sdp=nowhere(b.localDescription.sdp), type="answer"))
        start = time.monotonic()
        with pytest.raises(CallError, match="did not connect within 3 s|failed"):
            await wait_connected(a, timeout=3, what="the call")
        assert time.monotonic() - start < 4
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_a_dropped_peer_is_noticed_and_the_call_made_again(url):
    async with loopback_call(url, SECRET, media=SMALL) as call:
        first_pc = call.callee.pc
        await call.caller.hang_up()  # the caller drops: its media and its signaling
        await call.caller.sio.disconnect()
        for _ in range(100):  # user_left reaches the callee, which hangs up
            if call.callee.pc is None:
                break
            await asyncio.sleep(0.05)
        assert call.callee.pc is None, "the callee did not notice that the caller left"
        # the caller comes back (the same token): it rejoins and calls again
        with host_addresses(["127.0.0.1"]):
            await call.caller.sio.connect(url, transports=["websocket"], wait_timeout=5)
            await asyncio.gather(call.caller.connected(8), call.callee.connected(8))
        assert call.callee.pc is not first_pc and call.callee.calls == 2
        await call.first_frame()


async def test_the_signaling_client_reconnects_and_rejoins_by_itself(turn):
    port = free_port()
    runner, url = await serve(create_app(SECRET, turn_url=turn.url, turn_secret=TURN_SECRET), port=port)
    peer = await SignalingPeer("alone", url, "room-r", room_token(SECRET, "room-r")).start()
    try:
        await runner.cleanup()  # the server goes away...
        peer.joined.clear()
        runner, _ = await serve(
            create_app(SECRET, turn_url=turn.url, turn_secret=TURN_SECRET), port=port
        )  # ...and comes back
        await asyncio.wait_for(peer.joined.wait(), 10)  # reconnected and joined again
    finally:
        await peer.close()
        await runner.cleanup()
