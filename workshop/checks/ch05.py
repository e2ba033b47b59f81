"""Checks for chapter 5 (solutions/05_webrtc.ipynb): WebRTC's best practices in three small pieces.

* 5.1 ``turn_credentials(secret, user, ttl, now)`` — TURN REST credentials coturn accepts;
* 5.2 ``relay_answer(sender, data, rooms)`` — the signaling server relays an ``answer``:
  to a peer in the sender's room only, and nothing but ``type`` and ``sdp``;
* 5.3 ``MirrorTrack(source)`` — a video track that transforms every frame (a mirror).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import av
import numpy as np

from workshop.checks import acall, call, check, expect, expect_equal, expect_isinstance, expect_raises, fail, trying
from workshop.infra import turn
from workshop.webrtc.signaling import Rooms, SignalingError
from workshop.webrtc.tracks import PatternVideoTrack


@check("5.1")
def check_turn_credentials(turn_credentials: Callable[..., dict[str, Any]]) -> str:
    secret, now = "classroom-secret", 1_700_000_000
    got = call("5.1", turn_credentials, secret, "alice", 600, now)
    expect_isinstance("5.1", got, dict, what="the result", hint='Return {"username": …, "credential": …}.')
    expect("5.1", {"username", "credential"} <= set(got),
           f'the result needs the keys "username" and "credential", got {sorted(got)}')
    expect_equal("5.1", got["username"], "1700000600:alice", what="the username",
                 hint="The username is '<expiry>:<user>', with expiry = now + ttl as a whole number of seconds.")
    right = turn.turn_credentials(secret, user="alice", ttl=600, now=now)["credential"]
    credential = got["credential"]
    if isinstance(credential, bytes):
        fail("5.1", "the credential must be text: base64.b64encode(...) returns bytes — add .decode()")
    if credential != right:
        if isinstance(credential, str) and len(credential) == 40:
            fail("5.1", "that looks like a hex digest: coturn expects base64 of the raw HMAC bytes "
                        "(base64.b64encode(mac.digest()).decode())")
        if isinstance(credential, str) and len(credential) == 44:
            fail("5.1", "that is 32 bytes in base64 — SHA-256? coturn's use-auth-secret uses HMAC-SHA1")
        fail("5.1", "the credential is not base64(HMAC-SHA1(secret, username)): sign the whole "
                    "username ('<expiry>:<user>') with the secret as the key")
    other = call("5.1", turn_credentials, secret, "bob", 60, now)
    expect_equal("5.1", other.get("username"), "1700000060:bob", what="the username for bob, ttl=60")
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
    got = call("5.2", relay_answer, "bob", {"target": "alice", "answer": OFFERED}, rooms)
    expect("5.2", isinstance(got, tuple) and len(got) == 2,
           f"relay_answer() should return a pair (target, message), got {got!r}")
    expect_equal("5.2", got, ("alice", {"answer": OFFERED, "sender": "bob"}), what="(target, message)",
                 hint="The message names the sender, so the other peer knows whom to answer.")
    extra = {**OFFERED, "debug": {"ip": "10.0.0.7"}, "onload": "alert(1)"}
    _, message = call("5.2", relay_answer, "bob", {"target": "alice", "answer": extra}, rooms)
    expect_equal("5.2", message.get("answer"), OFFERED, what="the relayed answer when the sender added keys",
                 hint="Relay only `type` and `sdp`: build a new dict, never forward what a client sent as is.")
    cases = [
        ("mallory", {"target": "alice", "answer": OFFERED}, "a sender from another room"),
        ("bob", {"target": "nobody", "answer": OFFERED}, "a target that is in no room"),
        ("bob", {"target": "bob", "answer": OFFERED}, "a target that is the sender itself"),
        ("bob", {"target": "alice", "answer": {"type": "offer", "sdp": "v=0"}}, "an offer sent as an answer"),
        ("bob", {"target": "alice", "answer": {"type": "answer", "sdp": 42}}, "an sdp that is not text"),
        ("bob", {"target": "alice"}, "a message without an answer"),
        ("bob", ["alice", OFFERED], "a list instead of an object"),
    ]
    for sender, data, what in cases:
        with expect_raises("5.2", SignalingError, hint=f"Refuse {what} with SignalingError (the server turns "
                                                       "it into an `error` event for the sender)."):
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


@check("5.3")
async def check_mirror_track(MirrorTrack: type) -> str:  # noqa: N803 — the learner's class
    source = _Recorder()
    with trying("5.3", "MirrorTrack(source)"):
        track = MirrorTrack(source)
    expect("5.3", getattr(track, "kind", None) == "video",
           "MirrorTrack must be a video track: subclass VideoStreamTrack (and call super().__init__())")
    for n in range(3):
        frame = await acall("5.3", track.recv, shown="await track.recv()")
        expect_isinstance("5.3", frame, av.VideoFrame, what="what recv() returns",
                          hint="Return av.VideoFrame.from_ndarray(mirrored, format='rgb24').")
        expect("5.3", len(source.handed) == n + 1,
               f"recv() should take exactly one frame from the source per call (took {len(source.handed)} for {n + 1})")
        original = source.handed[-1]
        want = np.fliplr(original.to_ndarray(format="rgb24"))
        got = frame.to_ndarray(format="rgb24")
        expect_equal("5.3", got.shape, want.shape, what="the frame's shape", hint="Keep the frame's size.")
        diff = np.abs(got.astype(int) - want.astype(int)).mean()
        if diff > 3:
            same = np.abs(got.astype(int) - original.to_ndarray(format="rgb24").astype(int)).mean() <= 3
            fail("5.3", "the frame came out unchanged: mirror it left-right (np.fliplr, or img[:, ::-1])" if same
                 else "the frame is not the source frame mirrored left-right (np.fliplr, or img[:, ::-1])")
        expect_equal("5.3", (frame.pts, frame.time_base), (original.pts, original.time_base),
                     what="(pts, time_base) of the new frame",
                     hint="Copy frame.pts and frame.time_base from the source frame: aiortc times the video by them.")
    return "every frame mirrored, timing kept"
