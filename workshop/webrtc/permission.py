"""A relay call's first connectivity check waits until the caller's TURN allocation lets it in.

Between two relay candidates a check crosses two TURN allocations, and an allocation lets in
only addresses its owner holds a *permission* for (RFC 8656, section 9); aioice installs one
with the ChannelBind it sends before the first packet to a new address. The answerer knows the
caller's candidates from the offer and, in plain aiortc, checks them the moment it has answered
— before the caller has the answer, so before the caller's allocation admits the answerer.
coturn drops that check, and aioice sends it again only after its 500 ms STUN timeout: the
relay call took ~0.5 s more than a direct one, all of it waiting.

So an answerer with the relay policy (:class:`~workshop.webrtc.call.SignalingPeer`) does this:

1. :func:`hold_candidates` keeps the offer's candidates back from its ICE agent: with nothing
   to pair, it sends no check of its own;
2. once it has answered locally (its relay candidate exists), :func:`open_permissions` sends
   each held address a STUN Binding *indication* (ICE's keep-alive, which an ICE agent
   ignores) from the relay candidate: aioice binds a channel first, which installs the
   permission on the answerer's allocation — before the caller can send anything;
3. it sends the answer. The caller's first check now gets through; the answerer learns the
   caller's address from it (a peer-reflexive candidate, RFC 8445 section 7.3.1.3) and checks
   back at once — a triggered check, which passes: the caller's own check has just opened the
   caller's allocation to it. The check that waits is the one that can succeed;
4. :func:`release` then hands the held candidates to aiortc, which turns the peer-reflexive
   candidate back into the relay candidate it is. If the caller's check has not come within
   ``grace`` seconds, the candidates are handed over anyway: plain ICE, retransmits and all,
   and a call that cannot work still ends in ICE's "failed".

Only public aioice calls are made (``send_stun`` on the relay candidate's socket); reaching
that socket reads one private attribute, as :func:`~workshop.webrtc.peer.selected_pair` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress

from aioice import stun
from aiortc import RTCIceCandidate, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from workshop.waiting import WaitTimeout, within
from workshop.webrtc.peer import ice_connection

GRACE = 1.0  # seconds the answerer waits for the caller's first check before checking by itself


def hold_candidates(offer: RTCSessionDescription) -> tuple[RTCSessionDescription, list[RTCIceCandidate]]:
    """``offer`` without its ``a=candidate`` and ``a=end-of-candidates`` lines, and the candidates it had."""
    kept: list[str] = []
    held: list[RTCIceCandidate] = []
    index, mid = -1, None
    for line in offer.sdp.splitlines():
        if line.startswith("m="):
            index, mid = index + 1, None
        elif line.startswith("a=mid:"):
            mid = line[len("a=mid:") :]
        elif line.startswith("a=candidate:"):
            candidate = candidate_from_sdp(line[len("a=candidate:") :])
            candidate.sdpMid, candidate.sdpMLineIndex = mid, index
            held.append(candidate)
            continue
        elif line == "a=end-of-candidates":
            continue
        kept.append(line)
    return RTCSessionDescription(sdp="\r\n".join(kept) + "\r\n", type=offer.type), held


def open_permissions(pc: RTCPeerConnection, candidates: list[RTCIceCandidate]) -> int:
    """From each local relay candidate, one Binding indication to each candidate's address; how many were sent."""
    connection = ice_connection(pc)
    if connection is None:
        return 0
    sent = 0
    for protocol in connection._protocols:  # one socket per local candidate (no public accessor)
        local = protocol.local_candidate
        if local.type != "relay":
            continue
        for candidate in candidates:
            if candidate.component != local.component or not _is_address(candidate.ip):
                continue  # an mDNS name is never relayed (and is not resolved with the relay policy)
            indication = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.INDICATION)
            protocol.send_stun(indication, (candidate.ip, candidate.port))
            sent += 1
    return sent


async def release(pc: RTCPeerConnection, candidates: list[RTCIceCandidate], grace: float = GRACE) -> None:
    """Hand ``candidates`` (and end-of-candidates) to ``pc`` once ICE has connected, or after ``grace`` s."""
    connected = asyncio.Event()

    def changed() -> None:
        if pc.iceConnectionState in ("completed", "connected", "failed", "closed"):
            connected.set()

    pc.on("iceconnectionstatechange", changed)
    changed()
    try:
        with contextlib.suppress(WaitTimeout):
            await within(connected.wait(), grace, what="the caller's first check")  # either way, they go in next
    finally:
        pc.remove_listener("iceconnectionstatechange", changed)
    if pc.connectionState == "closed":
        return
    for candidate in candidates:
        await pc.addIceCandidate(candidate)
    await pc.addIceCandidate(None)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
