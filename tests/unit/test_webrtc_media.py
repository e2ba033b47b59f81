"""Synthetic media and peer configuration, without a network."""

from __future__ import annotations

import aioice.ice
import numpy as np
import pytest
from aiortc import RTCPeerConnection

from workshop.webrtc.peer import CallError, check_turn, host_addresses, rtc_config, turn_server
from workshop.webrtc.permission import hold_candidates
from workshop.webrtc.tracks import PatternVideoTrack, ToneTrack, draw_number, read_number


def test_a_drawn_number_reads_back():
    img = np.zeros((120, 320, 3), dtype=np.uint8)
    draw_number(img, 9075)
    assert read_number(img) == 9075
    assert read_number(np.zeros_like(img)) is None


async def test_the_pattern_numbers_its_frames_and_keeps_time():
    track = PatternVideoTrack(64, 48, fps=100)
    frames = [await track.recv() for _ in range(3)]
    assert [f.pts for f in frames] == [0, 900, 1800] and track.sent == 3
    assert frames[0].to_ndarray(format="rgb24").shape == (48, 64, 3)
    noisy = PatternVideoTrack(64, 48, fps=100, noise=True)
    assert (await noisy.recv()).width == 64


async def test_the_tone_is_20_ms_of_48_khz_mono():
    frame = await ToneTrack(440.0).recv()
    assert (frame.samples, frame.sample_rate, frame.layout.name) == (960, 48000, "mono")


def test_an_empty_ice_server_list_stays_empty():
    config = rtc_config([])
    assert config.iceServers == []  # None would mean Google's public STUN server
    assert rtc_config([], relay=True).iceTransportPolicy.value == "relay"


def test_host_addresses_are_chosen_in_a_block_only():
    with host_addresses(["127.0.0.1"]):
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False) == ["127.0.0.1"]
    assert "127.0.0.1" not in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)


async def test_a_relay_call_without_turn_is_refused_at_once():
    assert turn_server([{"urls": ["stun:127.0.0.1:3478"]}]) is None
    with pytest.raises(CallError, match="needs a turn: server"):
        await check_turn([{"urls": ["stun:127.0.0.1:3478"]}])


async def test_frames_that_arrive_in_a_burst_do_not_inflate_the_frame_rate():
    import asyncio

    from aiortc.mediastreams import MediaStreamTrack

    from workshop.webrtc.tracks import FrameSink

    class Burst(MediaStreamTrack):
        kind = "video"

        def __init__(self) -> None:
            super().__init__()
            self.left = 10

        async def recv(self):
            if self.left == 0:
                await asyncio.sleep(3600)  # then nothing more
            self.left -= 1
            return await PatternVideoTrack(16, 16, fps=1000).recv()

    sink = FrameSink(Burst(), window=2.0)
    try:
        await asyncio.sleep(1.0)
        assert sink.frames == 10
        assert 3 < sink.fps < 15, sink.fps  # 10 frames in about a second, not 10 frames in no time
    finally:
        await sink.stop()


async def test_an_offer_without_its_candidates_and_the_candidates_it_had():
    pc = RTCPeerConnection(rtc_config([]))
    try:
        pc.addTrack(PatternVideoTrack(64, 48, 10))
        pc.addTrack(ToneTrack())
        with host_addresses(["127.0.0.1"]):
            await pc.setLocalDescription(await pc.createOffer())
        offer = pc.localDescription
    finally:
        await pc.close()
    bare, held = hold_candidates(offer)
    assert "a=candidate:" in offer.sdp and "a=end-of-candidates" in offer.sdp
    assert "a=candidate:" not in bare.sdp and "a=end-of-candidates" not in bare.sdp and bare.type == "offer"
    assert len(bare.sdp.splitlines()) == len(offer.sdp.splitlines()) - offer.sdp.count("a=candidate:") - 2
    assert {(c.sdpMLineIndex, c.sdpMid) for c in held} == {(0, "0"), (1, "1")}  # one per media section, its mid
    assert all(c.ip == "127.0.0.1" and c.type == "host" for c in held)


async def test_a_turn_port_coturn_still_holds_is_tried_again_on_a_new_socket(monkeypatch):
    """437: coturn frees a deleted allocation on its next one-second tick; the kernel may hand out that port."""
    from workshop.infra import stun
    from workshop.webrtc import peer

    answers = [stun.StunError("437 Mismatched allocation", 437), ("127.0.0.1", 50000)]

    async def allocate(self, username, password):
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(peer.TurnProbe, "allocate", allocate)
    servers = [{"urls": "turn:127.0.0.1:3478", "username": "u", "credential": "c"}]
    assert await check_turn(servers) == ("127.0.0.1", 50000) and answers == []
    answers[:] = [stun.StunError("437 Mismatched allocation", 437)] * 2  # twice: an error, in one line
    with pytest.raises(CallError, match="437"):
        await check_turn(servers)
