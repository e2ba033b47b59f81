"""Chapter 5's teaching aids, without a network: the ICE picture, SDP reading, the stats helpers, the call page."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from aiortc import RTCPeerConnection  # noqa: E402

from workshop.viz.ice import COLOURS, PEER_A, PEER_B, ice_picture  # noqa: E402
from workshop.webrtc import sdp  # noqa: E402
from workshop.webrtc.lab import _published  # noqa: E402
from workshop.webrtc.peer import host_addresses  # noqa: E402
from workshop.webrtc.stats import mean_of  # noqa: E402
from workshop.webrtc.tracks import PatternVideoTrack, ToneTrack  # noqa: E402

PAGE = Path(__file__).resolve().parents[2] / "workshop" / "webrtc" / "static" / "index.html"

# the lines of a browser's offer that matter here (Chrome lists both kinds of bandwidth feedback)
BROWSER_OFFER = """v=0
m=video 9 UDP/TLS/RTP/SAVPF 96 97
a=ice-ufrag:abcd
a=ice-pwd:0123456789abcdefghijkl
a=fingerprint:sha-256 AA:BB
a=setup:actpass
a=rtpmap:96 VP8/90000
a=rtcp-fb:96 goog-remb
a=rtcp-fb:96 transport-cc
a=rtcp-fb:96 nack
a=rtpmap:97 rtx/90000
a=rtcp-fb:97 nack
a=candidate:1 1 udp 2122260223 192.168.1.20 50000 typ host
a=candidate:2 1 udp 1686052607 203.0.113.7 62000 typ srflx raddr 192.168.1.20 rport 50000
"""


def test_the_ice_picture_names_every_candidate_type_and_numbers_the_relayed_hops():
    fig = ice_picture()
    texts = " ".join(t.get_text() for t in fig.axes[0].texts) + fig.axes[0].get_title()
    for word in ("host", "srflx", "relay", "STUN Binding", "permission", "signaling server"):
        assert word in texts, word
    for address in (*PEER_A.values(), *PEER_B.values()):
        assert address in texts, address
    assert {"1", "2", "3", "4"} <= {t.get_text() for t in fig.axes[0].texts}  # the hops of the relayed packet
    assert len(set(COLOURS.values())) == len(COLOURS), "one colour per system"


def test_reading_a_browser_offer():
    facts = sdp.facts(BROWSER_OFFER)
    assert facts == {
        "DTLS fingerprint": True,
        "ICE credentials": True,
        "candidate types": ["host", "srflx"],
        "REMB feedback (goog-remb)": True,
        "transport-cc feedback": True,
    }
    assert sdp.attribute(BROWSER_OFFER, "ice-ufrag") == "abcd"
    assert sdp.attribute(BROWSER_OFFER, "no-such") is None
    lines = sdp.excerpt(BROWSER_OFFER).splitlines()
    assert lines[0].startswith("m=video") and "a=rtcp-fb:96 transport-cc" in lines
    assert not any(line.startswith(("a=rtpmap:97", "a=rtcp-fb:97")) for line in lines), "only the first codec"
    assert sdp.facts("v=0\n")["DTLS fingerprint"] is False


async def test_reading_aiortcs_own_offer():
    pc = RTCPeerConnection()
    try:
        pc.addTrack(PatternVideoTrack(64, 48, 10))
        pc.addTrack(ToneTrack())
        with host_addresses(["127.0.0.1"]):
            await pc.setLocalDescription(await pc.createOffer())
        offer = pc.localDescription.sdp
    finally:
        await pc.close()
    facts = sdp.facts(offer)
    assert facts["DTLS fingerprint"] and facts["ICE credentials"]
    assert facts["candidate types"] == ["host"]
    assert facts["REMB feedback (goog-remb)"] and not facts["transport-cc feedback"]  # what chapter 5 says of aiortc
    assert "abs-send-time" in sdp.excerpt(offer)


def test_mean_of_a_time_window():
    rows = [{"t": t, "kbps": k} for t, k in ((0.5, 100), (1.0, 200), (1.5, 300), (2.0, 400))]
    assert mean_of(rows, "kbps", 0.5, 1.5) == 250  # start excluded, end included
    assert mean_of(rows, "kbps", 5, 6) != mean_of(rows, "kbps", 5, 6)  # NaN: no rows


@pytest.mark.parametrize(
    "url, published",
    [
        ("http://signaling:3000", "http://127.0.0.1:3000"),
        ("http://signaling:3000/", "http://127.0.0.1:3000"),
        ("https://calls.example", "https://127.0.0.1:443"),
    ],
)
def test_a_compose_signaling_url_as_the_host_reaches_it(url, published):
    assert _published(url) == published


def test_the_call_page_shows_a_status_line_and_asks_for_nothing_it_cannot_get():
    page = PAGE.read_text()
    assert 'rel="icon" href="data:,"' in page, "without an icon the browser asks for /favicon.ico (a 404)"
    assert "JSON.stringify(window.callStats" not in page, "the status is a readable line, not raw JSON"
    assert re.search(r"function statusLine\(", page)
    for src in re.findall(r'(?:src|href)="(/[^"]*)"', page):
        assert src.startswith("/client/") and (PAGE.parent / src.removeprefix("/client/")).is_file(), src
    script = (PAGE.parent / "socket.io.min.js").read_text()
    for name in re.findall(r"sourceMappingURL=(\S+)", script):
        assert (PAGE.parent / name).is_file(), f"the script names {name}, which is not served (a 404 in DevTools)"


@pytest.mark.parametrize(
    "host, loopback", [("127.0.0.1", True), ("localhost", True), ("::1", True), ("coturn", False), ("10.0.0.1", False)]
)
def test_candidates_stay_on_loopback_only_for_a_server_on_loopback(host, loopback):
    from workshop.webrtc.candidates import _on_loopback

    assert _on_loopback(host) is loopback
