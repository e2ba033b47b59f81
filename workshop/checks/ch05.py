"""Checks for chapter 5 (solutions/05_webrtc.ipynb): WebRTC's best practices in three small pieces.

* 5.1 ``turn_credentials(secret, user, ttl, now)`` — TURN REST credentials coturn accepts;
* 5.2 ``relay_answer(sender, data, rooms)`` — the signaling server relays an ``answer``:
  to a peer in the sender's room only, and nothing but ``type`` and ``sdp``;
* 5.3 ``MirrorTrack(source)`` — a video track that transforms every frame (a mirror).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import av
import numpy as np

from workshop.checks import (
    acall,
    call,
    check,
    expect,
    expect_equal,
    expect_isinstance,
    expect_raises,
    fail,
    short,
    trying,
)
from workshop.infra import turn
from workshop.webrtc.signaling import Rooms, SignalingError
from workshop.webrtc.tracks import PatternVideoTrack


def _credential_problem(credential: Any, secret: str, username: str) -> str | None:
    """Why ``credential`` is not what coturn computes for ``username`` ('<expiry>:<user>'); None when it is."""
    expiry, _, user = username.partition(":")
    expected = turn.turn_credentials(secret, user=user, ttl=1, now=int(expiry) - 1)["credential"]
    if credential == expected:
        return None
    if isinstance(credential, bytes):
        return "the credential must be text: base64.b64encode(...) returns bytes — add .decode()"
    if isinstance(credential, str) and len(credential) == 40:
        return (
            "that looks like a hex digest: coturn expects base64 of the raw HMAC bytes "
            "(base64.b64encode(mac.digest()).decode())"
        )
    if isinstance(credential, str) and len(credential) == 44:
        return "that is 32 bytes in base64 — SHA-256? coturn's use-auth-secret uses HMAC-SHA1"
    swapped = hmac.new(username.encode(), secret.encode(), hashlib.sha1).digest()  # the usual slip, recognised
    if credential == base64.b64encode(swapped).decode():
        return "key and message are swapped: hmac.new(secret, username, sha1) — the secret is the key"
    return (
        "the credential is not base64(HMAC-SHA1(secret, username)): sign the whole username "
        "('<expiry>:<user>') with the secret as the key"
    )


def _username_problem(username: Any, now: int, ttl: int, user: str) -> str:
    expiry = now + ttl
    if username == f"{user}:{expiry}":
        return "expiry first, then the user: '<expiry>:<user>' (coturn reads the number before the colon)."
    if username == f"{ttl}:{user}":
        return "the expiry is a moment in time, now + ttl, not the ttl alone."
    if username == f"{now}:{user}":
        return "that username expired the moment it was made: the expiry is now + ttl."
    if username == f"{now + ttl * 1000}:{user}":
        return "ttl is in seconds, like now (Unix time): now + ttl, no * 1000."
    return "the username is '<expiry>:<user>', with expiry = now + ttl as a whole number of seconds."


@check("5.1")
def check_turn_credentials(turn_credentials: Callable[..., dict[str, Any]]) -> str:
    secret, now = "classroom-secret", 1_700_000_000
    got = call("5.1", turn_credentials, secret, "alice", 600, now)
    expect_isinstance("5.1", got, dict, what="the result", hint='Return {"username": …, "credential": …}.')
    expect(
        "5.1",
        {"username", "credential"} <= set(got),
        f'the result needs the keys "username" and "credential", got {sorted(got)}',
    )
    expect_equal(
        "5.1",
        got["username"],
        "1700000600:alice",
        what="the username for now=1700000000, ttl=600",
        hint=_username_problem(got["username"], now, 600, "alice"),
    )
    problem = _credential_problem(got["credential"], secret, got["username"])
    if problem:
        fail("5.1", problem)

    wall_clock = 1_700_000_000.123  # what time.time() gives — the notebook calls it with that
    shown = "turn_credentials('classroom-secret', 'alice', 600, now=1700000000.123) — now from time.time()"
    got = call("5.1", turn_credentials, secret, "alice", 600, wall_clock, shown=shown)
    username = got.get("username") if isinstance(got, dict) else None
    whole = isinstance(username, str) and username.partition(":")[0] in ("1700000600", "1700000601")
    if not (isinstance(username, str) and whole and username.endswith(":alice")):
        fail(
            "5.1",
            f"{shown} gave the username {short(username)}: coturn answers 401 to an expiry that is not a whole "
            "number — int(now) + ttl.",
        )
    problem = _credential_problem(got.get("credential"), secret, username)
    if problem:
        fail("5.1", f"with now=1700000000.123: {problem}")

    other = call("5.1", turn_credentials, "another-secret", "bob", 60, now)
    expect_equal(
        "5.1",
        (other or {}).get("username"),
        "1700000060:bob",
        what="the username for bob, ttl=60",
        hint="use the `user` and `ttl` arguments, not the example's values.",
    )
    expect(
        "5.1",
        _credential_problem(other.get("credential"), "another-secret", "1700000060:bob") is None,
        "turn_credentials('another-secret', 'bob', 60, now) signed with another key: your function ignored "
        "its `secret` argument — each server has its own static-auth-secret.",
    )
    return "coturn recomputes the same HMAC, and refuses it after the expiry"


OFFERED = {"type": "answer", "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"}


def _rooms() -> Rooms:
    rooms = Rooms()
    rooms.join("call-1", "alice")
    rooms.join("call-1", "bob")
    rooms.join("call-2", "mallory")
    return rooms


@check("5.2")
def check_relay_answer(relay_answer: Callable[[str, Any, Rooms], tuple[str, dict]]) -> str:
    rooms = _rooms()
    data = {"target": "alice", "answer": dict(OFFERED)}
    shown = "relay_answer('bob', {'target': 'alice', 'answer': {'type': 'answer', 'sdp': …}}, rooms)"
    got = call(
        "5.2",
        relay_answer,
        "bob",
        data,
        rooms,
        shown=shown,
        hint="rooms.share_a_room(sender, target) tells whether two peers are in one room",
    )
    expect(
        "5.2",
        isinstance(got, tuple) and len(got) == 2,
        f"relay_answer() should return a pair (target, message), got {short(got)}",
    )
    expect(
        "5.2",
        got[0] != "bob",
        f"{shown} returned the target {got[0]!r}: the answer goes to the peer named in "
        "data['target'] (alice), not back to its sender.",
    )
    expect_equal(
        "5.2",
        got,
        ("alice", {"answer": OFFERED, "sender": "bob"}),
        what="(target, message)",
        hint="The message is {'answer': {'type', 'sdp'}, 'sender': sender}: it names the sender, so the "
        "other peer knows whom to answer.",
    )
    expect_equal(
        "5.2",
        data,
        {"target": "alice", "answer": OFFERED},
        what="the data the client sent, after the call",
        hint="Don't change what the client sent (no .pop()): build the message anew.",
    )
    extra = {**OFFERED, "debug": {"ip": "10.0.0.7"}, "onload": "alert(1)"}
    _, message = call(
        "5.2",
        relay_answer,
        "bob",
        {"target": "alice", "answer": extra},
        rooms,
        shown="relay_answer('bob', an answer with extra keys 'debug' and 'onload', rooms)",
    )
    expect_equal(
        "5.2",
        message.get("answer"),
        OFFERED,
        what="the relayed answer when the sender added keys",
        hint="Relay only `type` and `sdp`: build a new dict, never forward what a client sent as is.",
    )
    cases: list[tuple[str, Any, str]] = [
        ("mallory", {"target": "alice", "answer": OFFERED}, "a sender from another room (mallory → alice)"),
        ("bob", {"target": "nobody", "answer": OFFERED}, "a target that is in no room"),
        ("bob", {"target": "bob", "answer": OFFERED}, "a target that is the sender itself"),
        ("bob", {"target": 7, "answer": OFFERED}, "a target that is not a name (7)"),
        ("bob", {"target": "alice", "answer": {"type": "offer", "sdp": "v=0"}}, "an offer sent as an answer"),
        ("bob", {"target": "alice", "answer": {"type": "answer", "sdp": 42}}, "an sdp that is not text"),
        ("bob", {"target": "alice", "answer": "v=0"}, "an answer that is a bare string"),
        ("bob", {"target": "alice"}, "a message without an answer"),
        ("bob", ["alice", OFFERED], "a list instead of an object"),
    ]
    for sender, data, what in cases:
        with expect_raises(
            "5.2",
            SignalingError,
            hint=f"Refuse {what} with SignalingError (the server turns it into an `error` event for the sender).",
        ):
            relay_answer(sender, data, rooms)
    return "only to a peer in the sender's room, and only type and sdp"


class _Recorder(PatternVideoTrack):
    """The source track: remembers every frame it handed out."""

    def __init__(self) -> None:
        super().__init__(64, 48, fps=200)
        self.handed: list[av.VideoFrame] = []

    async def recv(self) -> av.VideoFrame:
        frame = await super().recv()
        self.handed.append(frame)
        return frame


def _mirror_problem(got: np.ndarray, original: np.ndarray) -> str:
    """What the learner's frame is, when it is not the source mirrored left-right."""

    def close(a: np.ndarray, b: np.ndarray) -> bool:
        return a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).mean() <= 3

    if close(got, original):
        return "the frame came out unchanged: mirror it left-right (np.fliplr, or img[:, ::-1])"
    if close(got, np.flipud(original)):
        return "the frame came out upside down (np.flipud): a mirror flips left-right — np.fliplr, or img[:, ::-1]"
    if close(got, np.fliplr(original)[..., ::-1]):
        return (
            "mirrored, but red and blue are swapped: read and write the frame in the same format "
            "(to_ndarray(format='rgb24') and from_ndarray(…, format='rgb24'))"
        )
    return "the frame is not the source frame mirrored left-right (np.fliplr, or img[:, ::-1])"


@check("5.3")
async def check_mirror_track(MirrorTrack: type) -> str:  # noqa: N803 — the learner's class
    source = _Recorder()
    with trying("5.3", "MirrorTrack(source)"):
        track = MirrorTrack(source)
    expect(
        "5.3",
        getattr(track, "kind", None) == "video",
        "MirrorTrack must be a video track: subclass VideoStreamTrack (and call super().__init__())",
    )
    try:
        _ = track.id, track.readyState
    except AttributeError:
        fail(
            "5.3",
            "MirrorTrack(source) has no track id: its __init__ skipped super().__init__(), so aiortc's "
            "own set-up never ran — call super().__init__() first, then keep `source`.",
        )
    for n in range(3):
        frame = await acall(
            "5.3",
            track.recv,
            shown=f"await track.recv() (frame {n + 1})",
            hint="recv() takes `await self.source.recv()` and returns a new av.VideoFrame",
        )
        expect_isinstance(
            "5.3",
            frame,
            av.VideoFrame,
            what="what recv() returns",
            hint="Return av.VideoFrame.from_ndarray(mirrored, format='rgb24'), not the array itself.",
        )
        expect(
            "5.3",
            len(source.handed) == n + 1,
            f"recv() should take exactly one frame from the source per call (took {len(source.handed)} for {n + 1})",
        )
        original = source.handed[-1].to_ndarray(format="rgb24")
        got = frame.to_ndarray(format="rgb24")
        expect_equal("5.3", got.shape, original.shape, what="the frame's shape", hint="Keep the frame's size.")
        diff = np.abs(got.astype(int) - np.fliplr(original).astype(int)).mean()
        if diff > 3:
            fail("5.3", _mirror_problem(got, original))
        handed = source.handed[-1]
        expect_equal(
            "5.3",
            (frame.pts, frame.time_base),
            (handed.pts, handed.time_base),
            what="(pts, time_base) of the new frame",
            hint="Copy frame.pts and frame.time_base from the source frame: aiortc times the video by them.",
        )
    return "every frame mirrored, timing kept"
