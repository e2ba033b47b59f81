"""Chapter 5's live demonstrations, on loopback with a throw-away coturn: gathering candidates, the
plot with a cap, a notebook peer that waits for the browser, the browser call through SIGNALING_URL,
and the call page's assets."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import replace

import aiohttp
import matplotlib
import pytest

matplotlib.use("Agg")

from workshop.config import settings  # noqa: E402
from workshop.infra.turn import ice_servers_for  # noqa: E402
from workshop.webrtc.call import SignalingPeer, loopback_call, synthetic_media  # noqa: E402
from workshop.webrtc.candidates import gather_candidates  # noqa: E402
from workshop.webrtc.lab import start_lab  # noqa: E402
from workshop.webrtc.peer import CallError, host_addresses  # noqa: E402
from workshop.webrtc.relay import TurnServer  # noqa: E402
from workshop.webrtc.signaling import create_app, serve  # noqa: E402
from workshop.webrtc.stats import StatsSampler, cap_bitrate, live_plot  # noqa: E402
from workshop.webrtc.tokens import check_room_token, room_token  # noqa: E402

pytestmark = pytest.mark.timeout(90)

SECRET = "test-secret-teaching"
SMALL = synthetic_media(160, 120, 10)


@pytest.fixture
async def turn() -> AsyncIterator[TurnServer]:
    async with TurnServer(SECRET) as server:
        yield server


@pytest.fixture
async def url(turn: TurnServer) -> AsyncIterator[str]:
    runner, address = await serve(create_app(SECRET, turn_url=turn.url, turn_secret=SECRET))
    yield address
    await asyncio.wait_for(runner.cleanup(), 10)


async def test_gathering_gives_a_host_a_reflexive_and_a_relay_candidate(turn):
    found = await gather_candidates(ice_servers_for(SECRET, turn.url))
    assert [c["type"] for c in found] == ["host", "srflx", "relay"]
    host, srflx, relay = (c["address"] for c in found)
    assert host.startswith("127.0.0.1:") and srflx == host, "no NAT on loopback: coturn sees the socket's own address"
    assert relay.startswith("127.0.0.1:") and relay != host
    assert found[1]["related"] == host  # a reflexive candidate names the host candidate it maps


async def test_gathering_with_a_wrong_secret_names_the_missing_relay(turn):
    with pytest.raises(CallError, match=r"^no relay candidate from turn:127\.0\.0\.1:\d+: is coturn running"):
        await gather_candidates(ice_servers_for("not-the-secret", turn.url))
    with pytest.raises(CallError, match="needs a turn: server"):
        await gather_candidates([{"urls": ["stun:127.0.0.1:3478"]}])


async def test_the_live_plot_caps_at_the_moment_it_marks(url):
    async with loopback_call(url, SECRET, media=synthetic_media(160, 120, 10, noise=True)) as call:
        sampler = StatsSampler(call.caller.pc, call.callee.pc, call.callee.sink)
        marks = await live_plot(
            sampler,
            seconds=3,
            every=0.25,
            redraw=10,
            actions=[(1, "cap", lambda: cap_bitrate(call.caller.pc, 250_000))],
        )
    assert list(marks) == ["cap"] and marks["cap"] >= 1.0
    after = [r for r in sampler.rows if r["t"] > marks["cap"]]
    assert after and all(r["target_kbps"] == 250.0 for r in after), after
    assert {"t", "fps", "kbps", "target_kbps", "rtt_ms", "loss_pct"} <= set(sampler.rows[-1])


async def test_a_notebook_peer_waits_for_a_call_with_a_deadline_and_sees_it_end(url):
    waiting = await SignalingPeer("notebook", url, "r1", room_token(SECRET, "r1"), ice_servers=[], media=SMALL).start()
    try:
        assert await waiting.wait_for_call(0.5) is False  # nobody called: the deadline passes
        assert waiting.sio.connected, "the peer stays in the room after the deadline"
        with host_addresses(["127.0.0.1"]):
            browser = await SignalingPeer(
                "browser", url, "r1", room_token(SECRET, "r1"), ice_servers=[], media=SMALL
            ).start()
            try:
                assert await waiting.wait_for_call(10) is True
                assert await waiting.call_ended(0.5) is False  # the call is still on
            finally:
                await browser.close()
            assert await waiting.call_ended(5) is True  # user_left: the other side hung up
    finally:
        await waiting.close()


async def test_the_lab_browser_peer_and_link_natively_and_through_signaling_url(turn):
    s = replace(settings(), turn_secret="not-the-running-coturns-secret", signaling_url="")
    lab = await start_lab(s)
    try:
        link = lab.browser_link("room-a")
        assert link.startswith(lab.url + "/#room=room-a&token=")
        check_room_token(lab.secret, "room-a", link.rsplit("token=", 1)[1])
        first = await lab.browser_peer("room-a", media=SMALL)
        second = await lab.browser_peer("room-a", media=SMALL)  # running the cell again
        assert not first.sio.connected and second.sio.connected, "the earlier notebook peer was not replaced"
    finally:
        await lab.close()
    assert not second.sio.connected, "closing the lab leaves its browser peer"

    # in Docker: a signaling server elsewhere (here: another one on loopback), tokens signed by SIGNALING_SECRET
    runner, elsewhere = await serve(create_app("the-signaling-secret", turn_url=turn.url, turn_secret=SECRET))
    port = int(elsewhere.rsplit(":", 1)[1])
    s = replace(
        settings(),
        turn_secret=SECRET,
        turn_url=turn.url,
        signaling_url=f"http://localhost:{port}",
        signaling_secret="the-signaling-secret",
    )
    lab = await start_lab(s)
    try:
        assert lab.browser_link("room-b").startswith(f"http://127.0.0.1:{port}/#room=room-b&token=")
        peer = await lab.browser_peer("room-b", media=SMALL)
        assert peer.url == s.signaling_url and peer.sio.connected
        assert peer.fixed_servers and peer.fixed_servers[-1]["urls"] == [turn.url]
        # compose publishes the server on another host port: SIGNALING_BROWSER_URL says which
        lab = await start_lab(replace(s, signaling_browser_url="http://127.0.0.1:39999/"))
        assert lab.browser_link("room-c").startswith("http://127.0.0.1:39999/#room=room-c&token=")
    finally:
        await lab.close()
        await runner.cleanup()


async def test_the_call_page_and_everything_it_names_are_served(url):
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        async with http.get(url + "/") as resp:
            assert resp.status == 200
            page = await resp.text()
        names = re.findall(r'(?:src|href)="(/[^"]*)"', page)
        async with http.get(url + "/client/socket.io.min.js") as resp:
            names += ["/client/" + m for m in re.findall(r"sourceMappingURL=(\S+)", await resp.text())]
        assert "/client/socket.io.min.js" in names and "/client/socket.io.min.js.map" in names
        for name in names:
            async with http.get(url + name) as resp:
                assert resp.status == 200, f"{name}: {resp.status}"
