"""The WebRTC signaling server: the course's Socket.IO server, in Python, with its bugs fixed.

Two browsers cannot send each other their first message: they do not know each
other's address yet. The signaling server is the meeting point. It relays three
kinds of message between peers that joined the same room, and nothing else:

    offer / answer    the SDP session descriptions (codecs, fingerprints, ...)
    ice_candidate     the addresses each peer can be reached at (host, STUN, TURN)

Events (the names of the course's ``server.js``)::

    client → server   join_room({room, token})              leave_room(room)
                      offer({target, offer})   answer({target, answer})
                      ice_candidate({target, candidate})
    server → client   ice_servers([RTCIceServer, ...]), then room_users([sid, ...])
                      user_joined(sid)         user_left(sid)
                      offer({offer, sender})   answer({answer, sender})
                      ice_candidate({candidate, sender})
                      error({event, message})

What the course's version got wrong, and what this one does instead:

* Anyone could join any room by its name — and two strangers who joined first
  locked its owners out. Here ``join_room`` needs a signed, expiring room token
  (:mod:`workshop.webrtc.tokens`), and joined clients get time-limited TURN
  credentials (``ice_servers``) instead of a password written into the page.
* On disconnect it told *every* room that the user left, and never deleted rooms.
  Here only the rooms the socket was in hear ``user_left``; empty rooms disappear.
* It relayed an offer to any ``target`` id, in any room, with whatever the sender
  put inside. Here the target must share a room with the sender, and only the
  fields WebRTC defines are relayed (``type`` and ``sdp``; a candidate's four fields).
* Rooms had no size: a third browser joining a 1:1 call broke it. Here a room holds
  ``max_room_size`` peers (2 by default) and the next one gets an ``error``.
* It trusted every payload and allowed ``cors: {origin: "*"}``. Here only the
  configured origins may connect; messages are rate-limited per socket and per
  client address, sockets per address are capped, sizes are counted in bytes, and
  anything malformed (binary attachments, deep nesting, wrong types) gets an
  ``error`` event back — never a traceback in the server's log.

Run it::

    python -m workshop.run.signaling --host 127.0.0.1 --port 3000     # workshop.run.signaling
    curl http://127.0.0.1:3000/healthz

Room state lives in this process's memory, so run one signaling process (several
would need the rooms in a shared store such as Redis).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections import defaultdict
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Awaitable, Callable

import socketio
from aiohttp import web

from workshop.webrtc.limits import Bucket, Limits
from workshop.webrtc.tokens import TokenError, check_room_token
from workshop.infra.turn import ice_servers_for

log = logging.getLogger("workshop.signaling")

DEFAULT_ORIGINS = (
    "http://localhost:3000", "http://127.0.0.1:3000",  # this server's own page
    "http://localhost:8888", "http://127.0.0.1:8888",  # JupyterLab
)
MAX_ROOM_SIZE = 2  # a 1:1 call
MAX_ROOMS_PER_CLIENT = 4
ROOM_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
STATIC_DIR = Path(__file__).with_name("static")  # the browser client page

# what each relayed event carries, besides "target"
PAYLOAD_KEY = {"offer": "offer", "answer": "answer", "ice_candidate": "candidate"}


class SignalingError(ValueError):
    """A request the server refuses; the message goes back to the client as an ``error`` event."""


class Rooms:
    """Who is in which room. Pure bookkeeping: no sockets, so it is easy to test and read."""

    def __init__(self, max_size: int = MAX_ROOM_SIZE) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, got {max_size}")
        self.max_size = max_size
        self.members: dict[str, list[str]] = {}  # room id -> sids, in order of arrival
        self.rooms_of: dict[str, set[str]] = {}  # sid -> room ids

    def join(self, room: str, sid: str) -> list[str]:
        """Add ``sid`` to ``room`` (idempotent) and return the room's members."""
        members = self.members.get(room, [])
        if sid in members:
            return list(members)
        if len(members) >= self.max_size:
            raise SignalingError(f"room {room!r} is full ({self.max_size} peers)")
        if len(self.rooms_of.get(sid, ())) >= MAX_ROOMS_PER_CLIENT:
            raise SignalingError(f"you are already in {MAX_ROOMS_PER_CLIENT} rooms")
        self.members[room] = members = [*members, sid]
        self.rooms_of.setdefault(sid, set()).add(room)
        return list(members)

    def leave(self, room: str, sid: str) -> bool:
        """Remove ``sid`` from ``room``; delete the room when it empties. False if not there."""
        members = self.members.get(room, [])
        if sid not in members:
            return False
        members.remove(sid)
        if not members:
            del self.members[room]
        self.rooms_of[sid].discard(room)
        if not self.rooms_of[sid]:
            del self.rooms_of[sid]
        return True

    def leave_all(self, sid: str) -> list[str]:
        """Remove ``sid`` from every room it is in; return those rooms (and only those)."""
        rooms = sorted(self.rooms_of.get(sid, ()))
        for room in rooms:
            self.leave(room, sid)
        return rooms

    def share_a_room(self, a: str, b: str) -> bool:
        """True when ``a`` and ``b`` are together in at least one room."""
        return bool(self.rooms_of.get(a, set()) & self.rooms_of.get(b, set()))


# --- checking what clients send -------------------------------------------------------------
# Each check builds a *new*, plain value from the fields it knows: nothing else a client
# sent (extra keys, binary attachments, nesting) ever reaches the other peer.


def check_room_id(room: Any) -> str:
    """A room id is a short string of letters, digits and ``_ . : -``."""
    if not isinstance(room, str) or not ROOM_ID.fullmatch(room):
        raise SignalingError("room id must be 1-64 characters of A-Z a-z 0-9 _ . : -")
    return room


def check_join(data: Any) -> tuple[str, Any]:
    """``join_room`` takes ``{room, token}``; return both (the token is checked by the caller)."""
    if isinstance(data, str):
        raise SignalingError("join_room needs {room, token}, not a bare room name: "
                             "open the call link with its token")
    if not isinstance(data, dict):
        raise SignalingError("join_room needs an object {room, token}")
    return check_room_id(data.get("room")), data.get("token")


def _text(value: Any, name: str, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise SignalingError(f"{name} must be a string")
    return value


def check_description(kind: str, value: Any) -> dict[str, str]:
    """An offer or answer: exactly ``{type, sdp}``."""
    if not (isinstance(value, dict) and value.get("type") == kind and isinstance(value.get("sdp"), str)):
        raise SignalingError(f"{kind} must be a session description {{type: {kind!r}, sdp}}")
    return {"type": kind, "sdp": value["sdp"]}


def check_candidate(value: Any) -> dict[str, Any] | None:
    """An ``RTCIceCandidateInit`` (``candidate``, ``sdpMid``, ``sdpMLineIndex``, ``usernameFragment``), or None."""
    if value is None:  # end of candidates
        return None
    if not isinstance(value, dict):
        raise SignalingError("candidate must be an RTCIceCandidate object (or null)")
    index = value.get("sdpMLineIndex")
    if index is not None and (isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 64):
        raise SignalingError("candidate.sdpMLineIndex must be a small integer (or null)")
    clean = {"candidate": _text(value.get("candidate"), "candidate.candidate"),
             "sdpMid": _text(value.get("sdpMid"), "candidate.sdpMid", optional=True),
             "sdpMLineIndex": index}
    if value.get("usernameFragment") is not None:
        clean["usernameFragment"] = _text(value["usernameFragment"], "candidate.usernameFragment")
    return clean


def size_in_bytes(payload: dict[str, Any] | None) -> int:
    """The UTF-8 size of a checked payload's strings (``é`` is 2 bytes, not the 6 of ``\\u00e9``)."""
    return sum(len(v.encode()) for v in (payload or {}).values() if isinstance(v, str))


def check_relay(event: str, data: Any, max_bytes: int = Limits.max_payload_bytes) -> tuple[str, Any]:
    """Check an offer/answer/ice_candidate message; return ``(target, clean payload)``."""
    key = PAYLOAD_KEY[event]
    if not isinstance(data, dict) or not isinstance(data.get("target"), str) or key not in data:
        raise SignalingError(f"{event} must be an object {{target, {key}}}")
    payload = check_candidate(data[key]) if event == "ice_candidate" else check_description(event, data[key])
    if size_in_bytes(payload) > max_bytes:
        raise SignalingError(f"{key} is larger than {max_bytes} bytes")
    return data["target"], payload


class TooDeep:
    """Stands in for a message nested too deeply to parse (``{"a": {"a": ...}}`` 1,200 levels)."""

    def __repr__(self) -> str:
        return "<nested too deeply>"


TOO_DEEP = TooDeep()
_EVENT_NAME = re.compile(r'\s*\[\s*"([A-Za-z_]{1,32})"')


class _Json:
    """The ``json`` python-socketio parses packets with, but a RecursionError becomes :data:`TOO_DEEP`.

    Python's parser gives up at about 1,000 levels of nesting, inside python-socketio,
    before any handler of ours runs: the event name is read back so that the sender
    still gets an ``error`` event for it.
    """

    dumps = staticmethod(json.dumps)

    @staticmethod
    def loads(text: str | bytes, **kw: Any) -> Any:
        try:
            return json.loads(text, **kw)
        except RecursionError:
            name = _EVENT_NAME.match(text if isinstance(text, str) else text.decode("utf-8", "replace"))
            if name is None:
                raise ValueError("message nested too deeply") from None
            return [name.group(1), TOO_DEEP]


# --- the server -----------------------------------------------------------------------------

ROOMS = web.AppKey("rooms", Rooms)  # app[ROOMS]: the room bookkeeping of a running server
SIO = web.AppKey("sio", socketio.AsyncServer)


def _version() -> str:
    try:
        return f"python-socketio {version('python-socketio')}"
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def _address(environ: dict) -> str:
    """The client's IP address (the aiohttp driver's REMOTE_ADDR is a constant, so ask aiohttp)."""
    request = environ.get("aiohttp.request")
    return (request.remote if request is not None else None) or environ.get("REMOTE_ADDR") or "?"


def create_app(secret: str, *, turn_url: str | None = None, max_room_size: int = MAX_ROOM_SIZE,
               allowed_origins: list[str] | tuple[str, ...] = DEFAULT_ORIGINS,
               limits: Limits = Limits(), turn_ttl: int = 3600) -> web.Application:
    """The aiohttp application: Socket.IO at ``/socket.io/``, ``GET /healthz``, and the client page.

    ``secret`` checks room tokens (and signs TURN credentials when ``turn_url`` is given).
    ``app[ROOMS]`` and ``app[SIO]`` give a notebook or a test a look inside.
    """
    if not secret:
        raise ValueError("the signaling server needs a secret to check room tokens (TURN_SECRET)")
    rooms = Rooms(max_room_size)
    # async_handlers=False: one client's messages are handled in the order they were sent
    # (an ICE candidate must not overtake the offer it belongs to).
    configured = {o.rstrip("/") for o in allowed_origins}

    def origin_allowed(origin: str | None, environ: dict) -> bool:
        # the configured origins, and this server's own page (same origin: whatever port it got)
        own = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
        return origin is not None and (origin in configured or origin == own)

    sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins=origin_allowed,
                               max_http_buffer_size=2 * limits.max_payload_bytes, async_handlers=False,
                               json=_Json)
    address_of: dict[str, str] = {}  # sid -> client address
    sockets_at: dict[str, int] = defaultdict(int)  # address -> open sockets
    socket_bucket: dict[str, Bucket] = {}
    address_bucket: dict[str, Bucket] = {}

    def channel(room: str) -> str:
        # Socket.IO gives every sid a room of its own name; a prefix keeps a room id
        # chosen by a client from ever naming another client's private room.
        return f"room:{room}"

    async def reject(sid: str, event: str, message: str) -> None:
        log.info("%s: refused %s: %s", sid, event, message)
        await sio.emit("error", {"event": event, "message": message}, to=sid)

    def allowed(sid: str) -> bool:
        """Spend one token from the socket's and its address's bucket."""
        mine, shared = socket_bucket.get(sid), address_bucket.get(address_of.get(sid, "?"))
        return mine is not None and shared is not None and mine.take() and shared.take()

    def handler(event: str) -> Callable[[Callable[..., Awaitable[None]]], Any]:
        """Register ``fn(sid, data)`` for ``event`` behind the rate limit and a catch-all for bad input."""
        def register(fn: Callable[..., Awaitable[None]]) -> Any:
            async def guarded(sid: str, data: Any = None, *extra: Any) -> None:
                if not allowed(sid):
                    bucket = socket_bucket.get(sid)
                    if bucket is not None and bucket.should_warn():
                        await reject(sid, event, "too many messages: slow down (messages are being dropped)")
                    return
                try:
                    if data is TOO_DEEP:
                        raise SignalingError(f"{event} message is nested too deeply")
                    await fn(sid, data)
                except (SignalingError, TokenError) as exc:
                    await reject(sid, event, str(exc))
                except Exception as exc:  # a payload no check foresaw: refuse it, keep serving
                    log.warning("%s: malformed %s (%s)", sid, event, type(exc).__name__)
                    await reject(sid, event, f"malformed {event} message")
            sio.on(event, guarded)
            return fn
        return register

    @sio.event
    async def connect(sid: str, environ: dict, auth: Any = None) -> None:
        address = _address(environ)
        if sockets_at[address] >= limits.sockets_per_address:
            raise socketio.exceptions.ConnectionRefusedError(
                f"too many connections from {address} ({limits.sockets_per_address})")
        sockets_at[address] += 1
        address_of[sid] = address
        socket_bucket[sid] = Bucket(limits.per_socket_rate, limits.per_socket_burst)
        address_bucket.setdefault(address, Bucket(limits.per_address_rate, limits.per_address_burst))
        log.info("%s: connected from %s", sid, address)

    @handler("join_room")
    async def join_room(sid: str, data: Any) -> None:
        room, token = check_join(data)
        check_room_token(secret, room, token)
        already = sid in rooms.members.get(room, [])
        members = rooms.join(room, sid)
        if not already:
            await sio.enter_room(sid, channel(room))
            await sio.emit("user_joined", sid, to=channel(room), skip_sid=sid)
            log.info("%s: joined %s (%d/%d)", sid, room, len(members), rooms.max_size)
        if turn_url:  # first, so that a client that calls on room_users already has them
            await sio.emit("ice_servers", ice_servers_for(secret, turn_url, user=sid.replace(":", "_"),
                                                          ttl=turn_ttl), to=sid)
        await sio.emit("room_users", members, to=sid)

    @handler("leave_room")
    async def leave_room(sid: str, room: Any) -> None:
        room = check_room_id(room)
        if rooms.leave(room, sid):
            await sio.emit("user_left", sid, to=channel(room), skip_sid=sid)
            await sio.leave_room(sid, channel(room))

    def relay(event: str) -> None:
        @handler(event)
        async def forward(sid: str, data: Any) -> None:
            target, payload = check_relay(event, data, limits.max_payload_bytes)
            if target == sid or not rooms.share_a_room(sid, target):
                raise SignalingError(f"target {target[:64]!r} is not in a room with you")
            await sio.emit(event, {PAYLOAD_KEY[event]: payload, "sender": sid}, to=target)

    for name in PAYLOAD_KEY:
        relay(name)

    @sio.event
    async def disconnect(sid: str, reason: Any = None) -> None:
        for room in rooms.leave_all(sid):  # only the rooms this socket was in
            await sio.emit("user_left", sid, to=channel(room), skip_sid=sid)
        address = address_of.pop(sid, None)
        socket_bucket.pop(sid, None)
        if address is not None:
            sockets_at[address] -= 1
            if sockets_at[address] <= 0:
                del sockets_at[address]
                address_bucket.pop(address, None)
        log.info("%s: disconnected (%s)", sid, reason)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "version": _version(), "rooms": len(rooms.members),
                                  "clients": len(rooms.rooms_of), "sockets": len(address_of),
                                  "max_room_size": rooms.max_size})

    async def close_sockets(app: web.Application) -> None:
        # Without this, aiohttp waits for every open websocket before it exits (~14 s on SIGTERM).
        # Drop the transports without a goodbye: a client told "server disconnect" would not
        # reconnect, one that just loses its connection does (and rejoins when we are back).
        sockets = list(sio.eio.sockets.values())
        await asyncio.gather(*(s.close(wait=False, abort=True) for s in sockets), return_exceptions=True)
        for s in sockets:
            s.queue.put_nowait(None)  # wakes each websocket's writer, which then closes the websocket

    app = web.Application()
    sio.attach(app)
    app.on_shutdown.append(close_sockets)
    app.router.add_get("/healthz", healthz)
    if STATIC_DIR.is_dir():
        app.router.add_static("/client/", STATIC_DIR)
        if (STATIC_DIR / "index.html").is_file():
            async def index(request: web.Request) -> web.Response:
                raise web.HTTPFound("/client/index.html")

            app.router.add_get("/", index)
    app[ROOMS], app[SIO] = rooms, sio
    return app


async def serve(app: web.Application, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, str]:
    """Run ``app`` in this event loop (a notebook, a test); port 0 picks a free one. Stop with ``runner.cleanup()``."""
    runner = web.AppRunner(app, shutdown_timeout=0.25)  # open websockets are dropped, not waited for
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError:
        await runner.cleanup()
        raise
    bound = runner.addresses[0][1]
    return runner, f"http://{host}:{bound}"


def origins_from_env(env: dict[str, str] | None = None) -> tuple[str, ...]:
    """``SIGNALING_ALLOWED_ORIGINS`` (comma-separated), else :data:`DEFAULT_ORIGINS`."""
    raw = (os.environ if env is None else env).get("SIGNALING_ALLOWED_ORIGINS", "")
    found = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    return found or DEFAULT_ORIGINS
