"""Chapter 5's checks: pass on the solution, 'not done' on the stub, a hint on wrong answers, one line on a crash."""

from __future__ import annotations

import base64
import hashlib
import hmac

import av
import numpy as np
import pytest
from aiortc.mediastreams import VideoStreamTrack

from workshop.checks import ExerciseCrashed, ExerciseFailed, ExerciseNotDone, ch05
from workshop.webrtc.signaling import Rooms, SignalingError, check_relay

# --- 5.1 -----------------------------------------------------------------------------------


def creds(secret, user, ttl, now, digest=hashlib.sha1, encode=lambda mac: base64.b64encode(mac.digest()).decode(),
          expiry=None):
    username = f"{int(now) + ttl if expiry is None else expiry}:{user}"
    return {"username": username, "credential": encode(hmac.new(secret.encode(), username.encode(), digest))}


def creds_stub(secret, user, ttl, now):
    raise NotImplementedError("Exercise 5.1: Time-limited TURN credentials")


def creds_crash(secret, user, ttl, now):
    return {"username": f"{now + ttl}:{user}", "credential": hmac.new(secret, user, hashlib.sha1)}  # str key: TypeError


def test_turn_credentials_check_passes_on_the_solution(capsys):
    ch05.check_turn_credentials(creds)
    assert "✅ Exercise 5.1 passed" in capsys.readouterr().out


def test_turn_credentials_check_says_not_done_on_the_stub():
    with pytest.raises(ExerciseNotDone, match="Exercise 5.1 is not done yet"):
        ch05.check_turn_credentials(creds_stub)


@pytest.mark.parametrize("wrong, hint", [
    (lambda s, u, t, n: creds(s, u, t, n, encode=lambda mac: mac.hexdigest()), "hex digest"),
    (lambda s, u, t, n: creds(s, u, t, n, digest=hashlib.sha256), "SHA1"),
    (lambda s, u, t, n: creds(s, u, t, n, expiry=n), "now \\+ ttl"),
    (lambda s, u, t, n: creds(s, u, t, n, encode=lambda mac: base64.b64encode(mac.digest())), "add .decode"),
])
def test_turn_credentials_check_catches_wrong_answers(wrong, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        ch05.check_turn_credentials(wrong)


def test_turn_credentials_check_turns_a_crash_into_one_line():
    with pytest.raises(ExerciseCrashed, match=r"creds_crash\('classroom-secret', 'alice', 600, 1700000000\) raised "
                                              r"TypeError") as caught:
        ch05.check_turn_credentials(creds_crash)
    assert "\n" not in str(caught.value)


# --- 5.2 -----------------------------------------------------------------------------------


def relay_solution(sender, data, rooms: Rooms):
    target, answer = check_relay("answer", data)
    if target == sender or not rooms.share_a_room(sender, target):
        raise SignalingError(f"target {target!r} is not in a room with you")
    return target, {"answer": answer, "sender": sender}


def relay_stub(sender, data, rooms):
    raise NotImplementedError("Exercise 5.2: Relay an answer")


def relay_everything(sender, data, rooms):
    """Wrong: checks the room but forwards the answer as it came."""
    if not isinstance(data, dict) or not rooms.share_a_room(sender, data.get("target", "")) or data["target"] == sender:
        raise SignalingError("no")
    return data["target"], {"answer": data["answer"], "sender": sender}


def relay_anywhere(sender, data, rooms):
    """Wrong: the course's relay — any target, no room check."""
    target, answer = check_relay("answer", data)
    return target, {"answer": answer, "sender": sender}


def relay_crash(sender, data, rooms):
    return data["target"], {"answer": {"type": data["answer"]["type"], "sdp": data["answer"]["SDP"]}, "sender": sender}


def test_relay_check_passes_on_the_solution(capsys):
    ch05.check_relay_answer(relay_solution)
    assert "✅ Exercise 5.2 passed" in capsys.readouterr().out


def test_relay_check_says_not_done_on_the_stub():
    with pytest.raises(ExerciseNotDone, match="Exercise 5.2 is not done yet"):
        ch05.check_relay_answer(relay_stub)


@pytest.mark.parametrize("wrong, hint", [(relay_everything, "only `type` and `sdp`"),
                                         (relay_anywhere, "another room")])
def test_relay_check_catches_wrong_answers(wrong, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        ch05.check_relay_answer(wrong)


def test_relay_check_names_the_crash_in_one_line():
    with pytest.raises(ExerciseCrashed, match=r"relay_crash\('bob', .*\) raised KeyError: 'SDP'") as caught:
        ch05.check_relay_answer(relay_crash)
    assert "\n" not in str(caught.value)


# --- 5.3 -----------------------------------------------------------------------------------


class MirrorSolution(VideoStreamTrack):
    def __init__(self, source):
        super().__init__()
        self.source = source

    async def recv(self):
        frame = await self.source.recv()
        out = av.VideoFrame.from_ndarray(np.fliplr(frame.to_ndarray(format="rgb24")).copy(), format="rgb24")
        out.pts, out.time_base = frame.pts, frame.time_base
        return out


class MirrorStub(VideoStreamTrack):
    def __init__(self, source):
        super().__init__()
        self.source = source

    async def recv(self):
        raise NotImplementedError("Exercise 5.3: A track that transforms frames")


class MirrorNoTiming(MirrorSolution):
    async def recv(self):
        frame = await self.source.recv()
        return av.VideoFrame.from_ndarray(np.fliplr(frame.to_ndarray(format="rgb24")).copy(), format="rgb24")


class MirrorUnchanged(MirrorSolution):
    async def recv(self):
        return await self.source.recv()


class MirrorUpsideDown(MirrorSolution):
    async def recv(self):
        frame = await self.source.recv()
        out = av.VideoFrame.from_ndarray(np.flipud(frame.to_ndarray(format="rgb24")).copy(), format="rgb24")
        out.pts, out.time_base = frame.pts, frame.time_base
        return out


class MirrorCrash(MirrorSolution):
    async def recv(self):
        frame = await self.source.recv()
        return av.VideoFrame.from_ndarray(np.fliplr(frame), format="rgb24")  # a frame is not an array


async def test_mirror_check_passes_on_the_solution(capsys):
    await ch05.check_mirror_track(MirrorSolution)
    assert "✅ Exercise 5.3 passed" in capsys.readouterr().out


async def test_mirror_check_says_not_done_on_the_stub():
    with pytest.raises(ExerciseNotDone, match="Exercise 5.3 is not done yet"):
        await ch05.check_mirror_track(MirrorStub)


@pytest.mark.parametrize("wrong, hint", [(MirrorNoTiming, "pts"), (MirrorUnchanged, "unchanged"),
                                         (MirrorUpsideDown, "not the source frame mirrored")])
async def test_mirror_check_catches_wrong_answers(wrong, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        await ch05.check_mirror_track(wrong)


async def test_mirror_check_turns_a_crash_into_one_line():
    with pytest.raises(ExerciseCrashed, match=r"await track.recv\(\) raised") as caught:
        await ch05.check_mirror_track(MirrorCrash)
    assert "\n" not in str(caught.value)
