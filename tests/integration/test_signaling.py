"""The signaling server with real Socket.IO clients, on a free loopback port.

Each test starts its own server in-process (no fixed port, nothing left running)
and connects python-socketio clients to it. Every wait has a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import socketio

from workshop.infra.turn import turn_credentials
from workshop.waiting import until
from workshop.webrtc.signaling import Rooms, SignalingError, create_app, origins_from_env, serve
from workshop.webrtc.tokens import room_token

pytestmark = pytest.mark.timeout(60)

WAIT = 3.0  # seconds to wait for an expected message
QUIET = 0.3  # seconds of silence that count as "nothing arrived"
SECRET = "test-secret-signaling"  # a throw-away secret for these in-process servers: room tokens
TURN_SECRET = "test-secret-turn"  # ...and another for the TURN credentials they hand out
TURN_URL = "turn:127.0.0.1:3478"
EVENTS = ("room_users", "ice_servers", "user_joined", "user_left", "offer", "answer", "ice_candidate", "error")
OFFER = {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}
ANSWER = {"type": "answer", "sdp": "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\n"}
CANDIDATE = {"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host", "sdpMid": "0", "sdpMLineIndex": 0}


class Peer:
    """A Socket.IO client that queues every event it receives, per event name."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sio = socketio.AsyncClient(reconnection=False)
        self.inbox: dict[str, asyncio.Queue[Any]] = defaultdict(asyncio.Queue)
        for event in EVENTS:
            self.sio.on(event, self._queue(event))

    def _queue(self, event: str):
        async def handler(data: Any = None) -> None:
            self.inbox[event].put_nowait(data)

        return handler

    @property
    def sid(self) -> str:
        return self.sio.get_sid()

    async def connect(self, url: str, **kw: Any) -> Peer:
        await self.sio.connect(url, transports=["websocket"], wait_timeout=WAIT, **kw)
        return self

    async def next(self, event: str, timeout: float = WAIT) -> Any:
        try:
            return await asyncio.wait_for(self.inbox[event].get(), timeout)
        except TimeoutError:
            raise AssertionError(f"{self.name} received no {event!r} within {timeout} s") from None

    async def nothing(self, event: str, wait: float = QUIET) -> None:
        """Assert that no ``event`` arrives within ``wait`` seconds."""
        await asyncio.sleep(wait)
        assert self.inbox[event].empty(), f"{self.name} unexpectedly got {event!r}: {self.inbox[event].get_nowait()!r}"

    async def join(self, room: str, token: str | None = None) -> list[str]:
        await self.sio.emit("join_room", {"room": room, "token": token or room_token(SECRET, room)})
        return await self.next("room_users")

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.sio.disconnect(), WAIT)


@pytest.fixture
async def server() -> AsyncIterator[str]:
    """A signaling server on a free 127.0.0.1 port; yields its URL and stops it afterwards."""
    runner, url = await serve(create_app(SECRET, turn_url=TURN_URL, turn_secret=TURN_SECRET, max_room_size=2))
    try:
        yield url
    finally:
        await asyncio.wait_for(runner.cleanup(), 10)


@pytest.fixture
async def peers(server: str) -> AsyncIterator[Any]:
    """``await peers("alice")`` gives a connected :class:`Peer`; all are closed afterwards."""
    made: list[Peer] = []

    async def make(name: str) -> Peer:
        peer = Peer(name)
        made.append(peer)
        return await peer.connect(server)

    yield make
    for peer in made:
        await peer.close()


async def test_join_room_lists_users_and_tells_the_others(peers):
    alice, bob = await peers("alice"), await peers("bob")
    assert await alice.join("call-1") == [alice.sid]
    assert await bob.join("call-1") == [alice.sid, bob.sid]
    assert await alice.next("user_joined") == bob.sid
    await bob.nothing("user_joined")  # nobody announces you to yourself


async def test_joining_twice_is_harmless(peers):
    alice, bob = await peers("alice"), await peers("bob")
    await alice.join("call-1")
    await bob.join("call-1")
    await alice.next("user_joined")
    assert await bob.join("call-1") == [alice.sid, bob.sid]
    await alice.nothing("user_joined")


async def test_offer_answer_and_candidates_reach_the_target_only(peers):
    alice, bob, carol = await peers("alice"), await peers("bob"), await peers("carol")
    await alice.join("call-1")
    await bob.join("call-1")
    await carol.join("call-2")

    await alice.sio.emit("offer", {"target": bob.sid, "offer": OFFER})
    assert await bob.next("offer") == {"offer": OFFER, "sender": alice.sid}
    await bob.sio.emit("answer", {"target": alice.sid, "answer": ANSWER})
    assert await alice.next("answer") == {"answer": ANSWER, "sender": bob.sid}
    await alice.sio.emit("ice_candidate", {"target": bob.sid, "candidate": CANDIDATE})
    assert await bob.next("ice_candidate") == {"candidate": CANDIDATE, "sender": alice.sid}
    await alice.sio.emit("ice_candidate", {"target": bob.sid, "candidate": None})  # end of candidates
    assert await bob.next("ice_candidate") == {"candidate": None, "sender": alice.sid}

    await asyncio.sleep(QUIET)
    assert all(carol.inbox[e].empty() for e in EVENTS if e != "ice_servers"), "carol (another room) overheard the call"
    assert alice.inbox["offer"].empty() and bob.inbox["answer"].empty(), "a message came back to its sender"


async def test_relay_keeps_the_order_a_peer_sent_in(peers):
    alice, bob = await peers("alice"), await peers("bob")
    await alice.join("call-1")
    await bob.join("call-1")
    for i in range(20):
        await alice.sio.emit("ice_candidate", {"target": bob.sid, "candidate": {**CANDIDATE, "sdpMLineIndex": i}})
    got = [(await bob.next("ice_candidate"))["candidate"]["sdpMLineIndex"] for _ in range(20)]
    assert got == list(range(20))


async def test_target_outside_your_rooms_is_refused(peers):
    alice, bob, mallory = await peers("alice"), await peers("bob"), await peers("mallory")
    await alice.join("call-1")
    await bob.join("call-1")
    await mallory.join("elsewhere")

    await mallory.sio.emit("offer", {"target": bob.sid, "offer": OFFER})
    error = await mallory.next("error")
    assert error["event"] == "offer" and "not in a room with you" in error["message"]
    await bob.nothing("offer")

    # a socket in no room at all, and a made-up target, are refused the same way
    loner = await peers("loner")
    await loner.sio.emit("ice_candidate", {"target": alice.sid, "candidate": CANDIDATE})
    assert (await loner.next("error"))["event"] == "ice_candidate"
    await alice.sio.emit("answer", {"target": "no-such-sid", "answer": ANSWER})
    assert "not in a room with you" in (await alice.next("error"))["message"]
    await alice.nothing("ice_candidate")


async def test_full_room_refuses_a_third_peer(peers):
    alice, bob, carol = await peers("alice"), await peers("bob"), await peers("carol")
    await alice.join("call-1")
    await bob.join("call-1")
    await alice.next("user_joined")

    await carol.sio.emit("join_room", {"room": "call-1", "token": room_token(SECRET, "call-1")})
    error = await carol.next("error")
    assert error["event"] == "join_room" and "full" in error["message"]
    await carol.nothing("room_users", 0)
    await alice.nothing("user_joined")
    # and carol, refused, cannot signal into the call either
    await carol.sio.emit("offer", {"target": alice.sid, "offer": OFFER})
    assert (await carol.next("error"))["event"] == "offer"
    await alice.nothing("offer")


async def test_disconnect_tells_only_the_rooms_it_was_in_and_empties_them(server, peers):
    alice, bob, carol, dave = [await peers(n) for n in ("alice", "bob", "carol", "dave")]
    await alice.join("call-1")
    await bob.join("call-1")
    await carol.join("call-2")
    await dave.join("call-2")
    await alice.next("user_joined")
    await carol.next("user_joined")
    bob_sid = bob.sid

    await bob.close()
    assert await alice.next("user_left") == bob_sid
    await carol.nothing("user_left")
    await dave.nothing("user_left")

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as http:
        async with http.get(f"{server}/healthz") as resp:
            assert (await resp.json())["rooms"] == 2
        await alice.close()

        async def alice_gone() -> dict | None:
            async with http.get(f"{server}/healthz") as resp:
                health = await resp.json()
            return health if health["sockets"] == 2 else None  # carol and dave

        health = await until(alice_gone, timeout=WAIT, what="the server to handle alice's disconnect")
    assert health["rooms"] == 1, "an empty room was kept"  # only call-2 is left
    assert health["clients"] == 2


async def test_leave_room_frees_the_seat(peers):
    alice, bob, carol = await peers("alice"), await peers("bob"), await peers("carol")
    await alice.join("call-1")
    await bob.join("call-1")
    await bob.sio.emit("leave_room", "call-1")
    assert await alice.next("user_left") == bob.sid
    assert await carol.join("call-1") == [alice.sid, carol.sid]


@pytest.mark.parametrize("room", ["", "x" * 65, 42, None, {"room": "a"}, "../etc", "room with spaces"])
async def test_bad_room_ids_are_refused(peers, room):
    alice = await peers("alice")
    await alice.sio.emit("join_room", {"room": room, "token": "1.x"})
    assert (await alice.next("error"))["event"] == "join_room"
    await alice.nothing("room_users", 0)


@pytest.mark.parametrize(
    "event, data",
    [
        ("offer", "just a string"),
        ("offer", {"offer": OFFER}),  # no target
        ("offer", {"target": "x", "offer": {"sdp": "v=0"}}),  # no type
        ("offer", {"target": "x", "offer": ANSWER}),  # an answer sent as offer
        ("answer", {"target": "x", "answer": {"type": "answer", "sdp": 7}}),
        ("ice_candidate", {"target": "x", "candidate": "candidate:1"}),
        ("offer", {"target": "x", "offer": {"type": "offer", "sdp": "v" * 70_000}}),  # too large
    ],
)
async def test_malformed_messages_are_refused(peers, event, data):
    alice, bob = await peers("alice"), await peers("bob")
    await alice.join("call-1")
    await bob.join("call-1")
    if isinstance(data, dict) and "target" in data:
        data = {**data, "target": bob.sid}
    await alice.sio.emit(event, data)
    assert (await alice.next("error"))["event"] == event
    await bob.nothing(event)


async def test_joining_needs_a_valid_token_for_that_room(peers):
    alice = await peers("alice")
    for data, why in [
        ("call-1", "bare room name"),
        ({"room": "call-1"}, "{room, token}"),
        ({"room": "call-1", "token": room_token(SECRET, "call-2")}, "not valid for this room"),
        ({"room": "call-1", "token": room_token("another-secret", "call-1")}, "not valid"),
        ({"room": "call-1", "token": room_token(TURN_SECRET, "call-1")}, "not valid"),  # TURN's
        ({"room": "call-1", "token": room_token(SECRET, "call-1", ttl=5, now=0)}, "expired"),
        ({"room": "call-1", "token": "garbage"}, "malformed"),
    ]:
        await alice.sio.emit("join_room", data)
        error = await alice.next("error")
        assert error["event"] == "join_room" and why in error["message"], (data, error)
    await alice.nothing("room_users", 0)
    assert await alice.join("call-1") == [alice.sid]


async def test_joined_clients_get_time_limited_turn_credentials(peers):
    alice = await peers("alice")
    await alice.join("call-1")
    servers = await alice.next("ice_servers")
    turn = next(s for s in servers if s["urls"][0].startswith("turn:"))
    expiry, _, user = turn["username"].partition(":")
    assert turn["urls"] == [TURN_URL] and user and int(expiry) > time.time() + 60
    # the password is the HMAC coturn recomputes from its secret (use-auth-secret): TURN's, not the room tokens'
    assert turn_credentials(TURN_SECRET, user=user, ttl=1, now=int(expiry) - 1)["credential"] == turn["credential"]
    assert turn_credentials(SECRET, user=user, ttl=1, now=int(expiry) - 1)["credential"] != turn["credential"]


def test_turn_credentials_need_the_turn_servers_secret():
    with pytest.raises(ValueError, match="turn_secret"):
        create_app(SECRET, turn_url=TURN_URL)  # not the room tokens' secret by default
    with pytest.raises(ValueError, match="SIGNALING_SECRET"):
        create_app("", turn_url=TURN_URL, turn_secret=TURN_SECRET)


async def test_only_type_and_sdp_are_relayed(peers):
    alice, bob = await peers("alice"), await peers("bob")
    await alice.join("call-1")
    await bob.join("call-1")
    await alice.sio.emit("offer", {"target": bob.sid, "offer": {**OFFER, "evil": {"x": 1}, "onload": "js"}})
    assert (await bob.next("offer"))["offer"] == OFFER
    await alice.sio.emit("ice_candidate", {"target": bob.sid, "candidate": {**CANDIDATE, "extra": [1] * 100}})
    assert (await bob.next("ice_candidate"))["candidate"] == CANDIDATE


async def test_binary_attachments_are_refused_with_an_error(peers):
    alice, bob = await peers("alice"), await peers("bob")
    await alice.join("call-1")
    await bob.join("call-1")
    await alice.sio.emit("offer", {"target": bob.sid, "offer": {"type": "offer", "sdp": b"\x00" * 10}})
    assert (await alice.next("error"))["event"] == "offer"
    await alice.sio.emit("ice_candidate", {"target": bob.sid, "candidate": {**CANDIDATE, "candidate": b"x"}})
    assert (await alice.next("error"))["event"] == "ice_candidate"
    await bob.nothing("offer", 0)
    await bob.nothing("ice_candidate")


async def test_healthz_answers_json(server):
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as http:
        async with http.get(f"{server}/healthz") as resp:
            assert resp.status == 200
            body = await resp.json()
    assert body["status"] == "ok" and "python-socketio" in body["version"]
    assert body["max_room_size"] == 2


async def test_only_allowed_origins_may_connect(server):
    ok = Peer("lab")
    await ok.connect(server, headers={"Origin": "http://localhost:8888"})
    await ok.close()
    evil = Peer("evil")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await evil.connect(server, headers={"Origin": "http://evil.example"})
    await evil.close()


# --- the bookkeeping alone (no sockets) -----------------------------------------------------


def test_rooms_bookkeeping():
    rooms = Rooms(max_size=2)
    assert rooms.join("a", "s1") == ["s1"]
    assert rooms.join("a", "s2") == ["s1", "s2"]
    with pytest.raises(SignalingError, match="full"):
        rooms.join("a", "s3")
    rooms.join("b", "s1")
    assert rooms.share_a_room("s1", "s2") and not rooms.share_a_room("s2", "s3")
    assert rooms.leave_all("s1") == ["a", "b"]
    assert rooms.members == {"a": ["s2"]} and rooms.rooms_of == {"s2": {"a"}}
    assert rooms.leave_all("s2") == ["a"] and rooms.members == {} and rooms.rooms_of == {}
    assert rooms.leave_all("never-joined") == []


def test_origins_come_from_the_environment():
    assert origins_from_env({"SIGNALING_ALLOWED_ORIGINS": "http://a:1, http://b:2/"}) == ("http://a:1", "http://b:2")
    assert "*" not in origins_from_env({})


async def test_the_page_and_its_socketio_client_are_served_locally(server):
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as http:
        async with http.get(f"{server}/") as resp:
            assert resp.status == 200 and str(resp.url).endswith("/client/index.html")
            page = await resp.text()
        async with http.get(f"{server}/client/socket.io.min.js") as resp:
            assert resp.status == 200 and "Socket.IO" in (await resp.text())[:300]
    assert '<script src="/client/socket.io.min.js">' in page
    import re

    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "the page loads something from outside"
    assert "stun.l.google.com" not in page


async def test_the_servers_own_page_may_connect(server):
    page = Peer("page")
    await page.connect(server, headers={"Origin": server})  # same origin as the server, whatever its port
    await page.close()
