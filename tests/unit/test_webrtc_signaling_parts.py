"""The signaling server's parts that need no socket: room tokens, rate buckets, payload checks, the vendored client."""

from __future__ import annotations

import hashlib

import pytest

from workshop.webrtc.limits import Bucket
from workshop.webrtc.signaling import SignalingError, check_relay, size_in_bytes
from workshop.webrtc.tokens import TokenError, check_room_token, room_token
from workshop.webrtc.vendor import FILES, HERE, PACKAGE


def test_a_room_token_is_bound_to_its_room_secret_and_time():
    token = room_token("s3cret", "call-1", ttl=60, now=1000)
    assert check_room_token("s3cret", "call-1", token, now=1059) == 1060
    with pytest.raises(TokenError, match="expired"):
        check_room_token("s3cret", "call-1", token, now=1060)
    with pytest.raises(TokenError, match="not valid"):
        check_room_token("s3cret", "call-2", token, now=1000)
    with pytest.raises(TokenError, match="not valid"):
        check_room_token("other", "call-1", token, now=1000)
    expiry, _, sig = token.partition(".")
    with pytest.raises(TokenError, match="not valid"):  # pushing the expiry forward breaks the signature
        check_room_token("s3cret", "call-1", f"{int(expiry) + 3600}.{sig}", now=1000)
    for bad in (None, "", "abc", "12.", 5):
        with pytest.raises(TokenError):
            check_room_token("s3cret", "call-1", bad, now=1000)
    with pytest.raises(TokenError, match="ttl"):
        room_token("s3cret", "call-1", ttl=0)


def test_a_bucket_allows_its_burst_then_its_rate():
    b = Bucket(rate=10, burst=5, now=0.0)
    assert [b.take(now=0.0) for _ in range(6)] == [True] * 5 + [False]
    assert b.take(now=0.1) and not b.take(now=0.1)  # 0.1 s at 10/s: one more
    assert b.should_warn(now=0.1) and not b.should_warn(now=0.5) and b.should_warn(now=1.2)


def test_relay_checks_build_clean_payloads_and_count_bytes():
    target, offer = check_relay("offer", {"target": "b", "offer": {"type": "offer", "sdp": "v=0", "x": 1}})
    assert (target, offer) == ("b", {"type": "offer", "sdp": "v=0"})
    assert size_in_bytes({"sdp": "é" * 10}) == 20
    with pytest.raises(SignalingError, match="larger"):
        check_relay("answer", {"target": "b", "answer": {"type": "answer", "sdp": "é" * 40}}, max_bytes=60)
    with pytest.raises(SignalingError, match="sdpMLineIndex"):
        check_relay("ice_candidate", {"target": "b", "candidate": {"candidate": "c", "sdpMLineIndex": True}})


def test_the_served_socketio_client_is_the_one_npm_installed():
    for source, target in FILES.items():
        served = HERE / "static" / target
        assert served.is_file(), f"{served} is missing: run python -m workshop.webrtc.vendor"
        if (PACKAGE / source).is_file():  # node_modules present: the copy must be current
            digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
            assert digest(served) == digest(PACKAGE / source), "stale copy: run python -m workshop.webrtc.vendor"
