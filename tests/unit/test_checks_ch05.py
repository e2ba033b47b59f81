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


def creds(
    secret, user, ttl, now, digest=hashlib.sha1, encode=lambda mac: base64.b64encode(mac.digest()).decode(), expiry=None
):
    username = f"{int(now) + ttl if expiry is None else expiry}:{user}"
    return {"username": username, "credential": encode(hmac.new(secret.encode(), username.encode(), digest))}


def creds_stub(secret, user, ttl, now):
    raise NotImplementedError("Exercise 5.1: Time-limited TURN credentials")


def creds_crash(secret, user, ttl, now):
    return {"username": f"{now + ttl}:{user}", "credential": hmac.new(secret, user, hashlib.sha1)}  # str key: TypeError


def creds_float_expiry(secret, user, ttl, now):  # now from time.time() kept as a float
    return creds(secret, user, ttl, now, expiry=now + ttl)


def creds_user_first(secret, user, ttl, now):
    username = f"{user}:{int(now) + ttl}"
    return {
        "username": username,
        "credential": base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode(),
    }


def creds_ttl_only(secret, user, ttl, now):
    return creds(secret, user, ttl, now, expiry=ttl)


def creds_milliseconds(secret, user, ttl, now):
    return creds(secret, user, ttl, now, expiry=int(now) + ttl * 1000)


def creds_swapped(secret, user, ttl, now):
    username = f"{int(now) + ttl}:{user}"
    return {
        "username": username,
        "credential": base64.b64encode(hmac.new(username.encode(), secret.encode(), hashlib.sha1).digest()).decode(),
    }


def creds_fixed_secret(secret, user, ttl, now):
    return creds("classroom-secret", user, ttl, now)


def creds_fixed_user(secret, user, ttl, now):
    return creds(secret, "alice", 600, now)


@pytest.mark.parametrize("right", [creds, lambda s, u, t, n: creds(s, u, t, n, expiry=round(n) + t)])
def test_turn_credentials_check_passes_on_the_solution(right, capsys):
    ch05.check_turn_credentials(right)
    assert "✅ Exercise 5.1 passed" in capsys.readouterr().out


def test_turn_credentials_check_says_not_done_on_the_stub():
    with pytest.raises(ExerciseNotDone, match="Exercise 5.1 is not done yet"):
        ch05.check_turn_credentials(creds_stub)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda s, u, t, n: creds(s, u, t, n, encode=lambda mac: mac.hexdigest()), "hex digest"),
        (lambda s, u, t, n: creds(s, u, t, n, digest=hashlib.sha256), "SHA1"),
        (lambda s, u, t, n: creds(s, u, t, n, expiry=n), "now \\+ ttl"),
        (lambda s, u, t, n: creds(s, u, t, n, encode=lambda mac: base64.b64encode(mac.digest())), "add .decode"),
        (creds_float_expiry, r"gave the username '1700000600.123:alice': coturn answers 401 .* int\(now\) \+ ttl"),
        (creds_user_first, "expiry first, then the user"),
        (creds_ttl_only, "not the ttl alone"),
        (creds_milliseconds, "ttl is in seconds"),
        (creds_swapped, "key and message are swapped"),
        (creds_fixed_secret, "ignored its `secret` argument"),
        (creds_fixed_user, "use the `user` and `ttl` arguments"),
    ],
)
def test_turn_credentials_check_catches_wrong_answers(wrong, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        ch05.check_turn_credentials(wrong)


def test_turn_credentials_check_turns_a_crash_into_one_line():
    with pytest.raises(
        ExerciseCrashed,
        match=r"creds_crash\('classroom-secret', 'alice', 600, 1700000000\) raised "
        r"TypeError",
    ) as caught:
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


def relay_any_description(sender, data, rooms):
    """Wrong: checks the room, copies type and sdp, but never checks that it is an answer."""
    if not isinstance(data, dict) or not isinstance(data.get("answer"), dict):
        raise SignalingError("no answer")
    target = data.get("target")
    if not isinstance(target, str) or target == sender or not rooms.share_a_room(sender, target):
        raise SignalingError("not in your room")
    answer = data["answer"]
    if not isinstance(answer.get("sdp"), str):
        raise SignalingError("sdp")
    return target, {"answer": {"type": answer.get("type"), "sdp": answer["sdp"]}, "sender": sender}


def relay_back_to_sender(sender, data, rooms):
    target, message = relay_solution(sender, data, rooms)
    return sender, message


def relay_pops(sender, data, rooms):
    """Wrong: strips the client's dict in place."""
    target, message = relay_solution(sender, data, rooms)
    data.pop("target")
    return target, message


def relay_no_sender(sender, data, rooms):
    target, message = relay_solution(sender, data, rooms)
    return target, {"answer": message["answer"]}


def relay_keeps_non_text_targets(sender, data, rooms):
    """Wrong: a target that is not a string reaches share_a_room."""
    if not isinstance(data, dict) or "target" not in data:
        raise SignalingError("no target")
    answer = data.get("answer")
    if not (isinstance(answer, dict) and answer.get("type") == "answer" and isinstance(answer.get("sdp"), str)):
        raise SignalingError("bad answer")
    if data["target"] == 7:
        return 7, {"answer": {"type": "answer", "sdp": answer["sdp"]}, "sender": sender}
    return relay_solution(sender, data, rooms)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (relay_everything, "only `type` and `sdp`"),
        (relay_anywhere, "another room"),
        (relay_back_to_sender, "not back to its sender"),
        (relay_pops, "Don't change what the client sent"),
        (relay_no_sender, "it names the sender"),
        (relay_keeps_non_text_targets, r"a target that is not a name \(7\)"),
        (relay_any_description, "an offer sent as an answer"),
    ],
)
def test_relay_check_catches_wrong_answers(wrong, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        ch05.check_relay_answer(wrong)


def test_relay_check_names_the_crash_in_one_line():
    with pytest.raises(ExerciseCrashed, match=r"relay_answer\('bob', .*rooms\) raised KeyError: 'SDP'") as caught:
        ch05.check_relay_answer(relay_crash)
    assert "\n" not in str(caught.value) and " at 0x" not in str(caught.value)


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


class MirrorSwapsColours(MirrorSolution):
    async def recv(self):
        frame = await self.source.recv()
        out = av.VideoFrame.from_ndarray(np.fliplr(frame.to_ndarray(format="bgr24")).copy(), format="rgb24")
        out.pts, out.time_base = frame.pts, frame.time_base
        return out


class MirrorReturnsArray(MirrorSolution):
    async def recv(self):
        frame = await self.source.recv()
        return np.fliplr(frame.to_ndarray(format="rgb24"))


class MirrorSkipsSuper(VideoStreamTrack):
    def __init__(self, source):  # no super().__init__()
        self.source = source

    async def recv(self):
        return await MirrorSolution.recv(self)


class MirrorTwoFrames(MirrorSolution):
    async def recv(self):
        await self.source.recv()
        return await super().recv()


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


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (MirrorNoTiming, "pts"),
        (MirrorUnchanged, "unchanged"),
        (MirrorUpsideDown, "upside down"),
        (MirrorSwapsColours, "red and blue are swapped"),
        (MirrorReturnsArray, r"got an array of shape \(48, 64, 3\) \(uint8\)"),
        (MirrorSkipsSuper, r"skipped super\(\).__init__\(\)"),
        (MirrorTwoFrames, "exactly one frame"),
    ],
)
async def test_mirror_check_catches_wrong_answers(wrong, hint):
    with pytest.raises(ExerciseFailed, match=hint) as caught:
        await ch05.check_mirror_track(wrong)
    assert "\n" not in str(caught.value)


async def test_mirror_check_turns_a_crash_into_one_line():
    with pytest.raises(ExerciseCrashed, match=r"await track.recv\(\) \(frame 1\) raised ValueError") as caught:
        await ch05.check_mirror_track(MirrorCrash)
    assert "\n" not in str(caught.value)
