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
  (:mod:`workshop.webrtc.tokens`, signed with ``SIGNALING_SECRET``), and joined clients
  get time-limited TURN credentials (``ice_servers``, signed with ``TURN_SECRET``)
  instead of a password written into the page.
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

Each payload is a pydantic model (:class:`Join`, :class:`Description`,
:class:`Candidate` …, on :class:`workshop.events.Schema`, the course's one schema
system), and :class:`SignalingServer` has one method per event.

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
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any, Literal

import socketio
from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from workshop.events import Schema, problems
from workshop.infra.turn import ice_servers_for
from workshop.webrtc.limits import Bucket, Limits
from workshop.webrtc.tokens import TokenError, check_room_token

log = logging.getLogger("workshop.signaling")

DEFAULT_ORIGINS = (
    "http://localhost:3000",
    "http://127.0.0.1:3000",  # this server's own page
    "http://localhost:8888",
    "http://127.0.0.1:8888",  # JupyterLab
)
MAX_ROOM_SIZE = 2  # a 1:1 call
MAX_ROOMS_PER_CLIENT = 4
DEFAULT_LIMITS = Limits()
ROOM_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
STATIC_DIR = Path(__file__).with_name("static")  # the browser client page


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


# --- what clients send: one pydantic model per payload --------------------------------------
# Each model keeps only the fields it declares: nothing else a client sent (extra keys,
# binary attachments, nesting) ever reaches the other peer. Types are strict (bytes are
# not text, true is not an index), and no text may hold a NUL (the Schema rule).


def _room_id(value: str) -> str:
    if not ROOM_ID.fullmatch(value):
        raise PydanticCustomError("room_id", "room id must be 1-64 characters of A-Z a-z 0-9 _ . : -")
    return value


RoomId = Annotated[str, AfterValidator(_room_id)]


class Payload(Schema):
    """A client's message: strict types, and unknown fields dropped (not relayed, not refused)."""

    model_config = ConfigDict(strict=True, extra="ignore")


class Join(Payload):
    """``join_room``: ``{room, token}``; the token is checked against the room by :mod:`~workshop.webrtc.tokens`."""

    room: RoomId
    token: Any = None


class Description(Payload):
    """An offer or an answer: exactly ``{type, sdp}``."""

    type: Literal["offer", "answer"]
    sdp: str


class Candidate(Payload):
    """An ``RTCIceCandidateInit``: ``candidate``, ``sdpMid``, ``sdpMLineIndex``, ``usernameFragment``."""

    candidate: str
    sdpMid: str | None = None  # noqa: N815 - WebRTC's names
    sdpMLineIndex: Annotated[int, Field(ge=0, lt=64)] | None = None  # noqa: N815
    usernameFragment: str | None = None  # noqa: N815

    def clean(self) -> dict[str, Any]:
        return self.model_dump(exclude={"usernameFragment"} if self.usernameFragment is None else set())


class Offer(Payload):
    target: str
    offer: Description


class Answer(Payload):
    target: str
    answer: Description


class IceCandidate(Payload):
    target: str
    candidate: Candidate | None  # null: the end of candidates


# event -> (the message's model, the key of what it relays, the shape a refusal names)
RELAYED: dict[str, tuple[type[Payload], str, str]] = {
    "offer": (Offer, "offer", "{target, offer: {type: 'offer', sdp}}"),
    "answer": (Answer, "answer", "{target, answer: {type: 'answer', sdp}}"),
    "ice_candidate": (IceCandidate, "candidate", "{target, candidate: RTCIceCandidate or null}"),
}
PAYLOAD_KEY = {event: key for event, (_, key, _) in RELAYED.items()}  # what each relayed event carries
_ROOM: TypeAdapter[str] = TypeAdapter(Annotated[str, Field(strict=True), AfterValidator(_room_id)])


def parse(model: type[BaseModel] | TypeAdapter, data: Any, what: str) -> Any:
    """``data`` as ``model``, or :class:`SignalingError` in one line: ``what``, then each field at fault."""
    try:
        if isinstance(model, TypeAdapter):
            return model.validate_python(data)
        return model.model_validate(data)
    except ValidationError as exc:
        raise SignalingError(f"{what}: {problems(exc)}") from None


def check_room_id(room: Any) -> str:
    """A room id is a short string of letters, digits and ``_ . : -``."""
    return parse(_ROOM, room, "leave_room needs a room id")


def check_join(data: Any) -> tuple[str, Any]:
    """``join_room`` takes ``{room, token}``; return both (the token is checked by the caller)."""
    if isinstance(data, str):
        raise SignalingError("join_room needs {room, token}, not a bare room name: open the call link with its token")
    join = parse(Join, data, "join_room needs an object {room, token}")
    return join.room, join.token


def size_in_bytes(payload: dict[str, Any] | None) -> int:
    """The UTF-8 size of a checked payload's strings (``é`` is 2 bytes, not the 6 of ``\\u00e9``)."""
    return sum(len(v.encode()) for v in (payload or {}).values() if isinstance(v, str))


def check_relay(event: str, data: Any, max_bytes: int = Limits.max_payload_bytes) -> tuple[str, Any]:
    """Check an offer/answer/ice_candidate message; return ``(target, clean payload)``."""
    model, key, shape = RELAYED[event]
    message = parse(model, data, f"{event} must be an object {shape}")
    inner = getattr(message, key)
    if isinstance(inner, Description) and inner.type != event:
        raise SignalingError(f"{event} must be an object {shape}: {key}.type is {inner.type!r}")
    payload = None if inner is None else inner.clean() if isinstance(inner, Candidate) else inner.model_dump()
    if size_in_bytes(payload) > max_bytes:
        raise SignalingError(f"{key} is larger than {max_bytes} bytes")
    return message.target, payload


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
SERVER = web.AppKey("server", object)  # app[SERVER]: the SignalingServer itself


def _version() -> str:
    try:
        return f"python-socketio {version('python-socketio')}"
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def _address(environ: dict) -> str:
    """The client's IP address (the aiohttp driver's REMOTE_ADDR is a constant, so ask aiohttp)."""
    request = environ.get("aiohttp.request")
    return (request.remote if request is not None else None) or environ.get("REMOTE_ADDR") or "?"


class SignalingServer:
    """The Socket.IO server: one method per client event, over :class:`Rooms` and the rate limits.

    ``secret`` checks room tokens (``SIGNALING_SECRET``); ``turn_secret`` signs the TURN
    credentials handed to joined clients for ``turn_url`` (``TURN_SECRET``). Every event
    handler runs behind :meth:`_guarded`: the rate limit first, then the handler, whose
    refusal (or any surprise) becomes an ``error`` event for the sender.
    """

    def __init__(
        self,
        secret: str,
        *,
        turn_url: str | None = None,
        turn_secret: str | None = None,
        max_room_size: int = MAX_ROOM_SIZE,
        allowed_origins: list[str] | tuple[str, ...] = DEFAULT_ORIGINS,
        limits: Limits = DEFAULT_LIMITS,
        turn_ttl: int = 3600,
    ) -> None:
        if not secret:
            raise ValueError("the signaling server needs a secret to check room tokens (SIGNALING_SECRET)")
        if turn_url and not turn_secret:
            raise ValueError("handing out TURN credentials for turn_url needs the TURN server's secret (turn_secret)")
        self.secret, self.turn_url, self.turn_secret, self.turn_ttl = secret, turn_url, turn_secret, turn_ttl
        self.limits = limits
        self.rooms = Rooms(max_room_size)
        self.origins = {o.rstrip("/") for o in allowed_origins}
        # async_handlers=False: one client's messages are handled in the order they were sent
        # (an ICE candidate must not overtake the offer it belongs to).
        self.sio = socketio.AsyncServer(
            async_mode="aiohttp",
            cors_allowed_origins=self.origin_allowed,
            max_http_buffer_size=2 * limits.max_payload_bytes,
            async_handlers=False,
            json=_Json,
        )
        self.address_of: dict[str, str] = {}  # sid -> client address
        self.sockets_at: dict[str, int] = defaultdict(int)  # address -> open sockets
        self.socket_bucket: dict[str, Bucket] = {}
        self.address_bucket: dict[str, Bucket] = {}
        self.sio.on("connect", self.connect)
        self.sio.on("disconnect", self.disconnect)
        for event, handler in (
            ("join_room", self.join_room),
            ("leave_room", self.leave_room),
            ("offer", self.offer),
            ("answer", self.answer),
            ("ice_candidate", self.ice_candidate),
        ):
            self.sio.on(event, self._guarded(event, handler))

    # --- plumbing ----------------------------------------------------------------------------

    def origin_allowed(self, origin: str | None, environ: dict) -> bool:
        """The configured origins, and this server's own page (same origin: whatever port it got)."""
        own = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
        return origin is not None and (origin in self.origins or origin == own)

    @staticmethod
    def channel(room: str) -> str:
        # Socket.IO gives every sid a room of its own name; a prefix keeps a room id
        # chosen by a client from ever naming another client's private room.
        return f"room:{room}"

    async def reject(self, sid: str, event: str, message: str) -> None:
        log.info("%s: refused %s: %s", sid, event, message)
        await self.sio.emit("error", {"event": event, "message": message}, to=sid)

    def allowed(self, sid: str) -> bool:
        """Spend one token from the socket's and its address's bucket."""
        mine, shared = self.socket_bucket.get(sid), self.address_bucket.get(self.address_of.get(sid, "?"))
        return mine is not None and shared is not None and mine.take() and shared.take()

    def _guarded(self, event: str, handler: Callable[[str, Any], Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        """``handler(sid, data)`` behind the rate limit and a catch-all for bad input."""

        async def guarded(sid: str, data: Any = None, *extra: Any) -> None:
            if not self.allowed(sid):
                bucket = self.socket_bucket.get(sid)
                if bucket is not None and bucket.should_warn():
                    await self.reject(sid, event, "too many messages: slow down (messages are being dropped)")
                return
            try:
                if data is TOO_DEEP:
                    raise SignalingError(f"{event} message is nested too deeply")
                await handler(sid, data)
            except (SignalingError, TokenError) as exc:
                await self.reject(sid, event, str(exc))
            except Exception as exc:  # a payload no check foresaw: refuse it, keep serving
                log.warning("%s: malformed %s (%s)", sid, event, type(exc).__name__)
                await self.reject(sid, event, f"malformed {event} message")

        return guarded

    # --- one method per event ------------------------------------------------------------------

    async def connect(self, sid: str, environ: dict, auth: Any = None) -> None:
        address = _address(environ)
        if self.sockets_at[address] >= self.limits.sockets_per_address:
            raise socketio.exceptions.ConnectionRefusedError(
                f"too many connections from {address} ({self.limits.sockets_per_address})"
            )
        self.sockets_at[address] += 1
        self.address_of[sid] = address
        self.socket_bucket[sid] = Bucket(self.limits.per_socket_rate, self.limits.per_socket_burst)
        self.address_bucket.setdefault(address, Bucket(self.limits.per_address_rate, self.limits.per_address_burst))
        log.info("%s: connected from %s", sid, address)

    async def join_room(self, sid: str, data: Any) -> None:
        room, token = check_join(data)
        check_room_token(self.secret, room, token)
        already = sid in self.rooms.members.get(room, [])
        members = self.rooms.join(room, sid)
        if not already:
            await self.sio.enter_room(sid, self.channel(room))
            await self.sio.emit("user_joined", sid, to=self.channel(room), skip_sid=sid)
            log.info("%s: joined %s (%d/%d)", sid, room, len(members), self.rooms.max_size)
        if self.turn_url and self.turn_secret:  # first, so that a client that calls on room_users already has them
            await self.sio.emit(
                "ice_servers",
                ice_servers_for(self.turn_secret, self.turn_url, user=sid.replace(":", "_"), ttl=self.turn_ttl),
                to=sid,
            )
        await self.sio.emit("room_users", members, to=sid)

    async def leave_room(self, sid: str, room: Any) -> None:
        room = check_room_id(room)
        if self.rooms.leave(room, sid):
            await self.sio.emit("user_left", sid, to=self.channel(room), skip_sid=sid)
            await self.sio.leave_room(sid, self.channel(room))

    async def offer(self, sid: str, data: Any) -> None:
        await self._relay("offer", sid, data)

    async def answer(self, sid: str, data: Any) -> None:
        await self._relay("answer", sid, data)

    async def ice_candidate(self, sid: str, data: Any) -> None:
        await self._relay("ice_candidate", sid, data)

    async def _relay(self, event: str, sid: str, data: Any) -> None:
        """To a peer that shares a room with the sender, and only the fields WebRTC defines."""
        target, payload = check_relay(event, data, self.limits.max_payload_bytes)
        if target == sid or not self.rooms.share_a_room(sid, target):
            raise SignalingError(f"target {target[:64]!r} is not in a room with you")
        await self.sio.emit(event, {PAYLOAD_KEY[event]: payload, "sender": sid}, to=target)

    async def disconnect(self, sid: str, reason: Any = None) -> None:
        for room in self.rooms.leave_all(sid):  # only the rooms this socket was in
            await self.sio.emit("user_left", sid, to=self.channel(room), skip_sid=sid)
        address = self.address_of.pop(sid, None)
        self.socket_bucket.pop(sid, None)
        if address is not None:
            self.sockets_at[address] -= 1
            if self.sockets_at[address] <= 0:
                del self.sockets_at[address]
                self.address_bucket.pop(address, None)
        log.info("%s: disconnected (%s)", sid, reason)

    # --- HTTP -----------------------------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "status": "ok",
                "version": _version(),
                "rooms": len(self.rooms.members),
                "clients": len(self.rooms.rooms_of),
                "sockets": len(self.address_of),
                "max_room_size": self.rooms.max_size,
            }
        )

    async def close_sockets(self, app: web.Application) -> None:
        # Without this, aiohttp waits for every open websocket before it exits (~14 s on SIGTERM).
        # Drop the transports without a goodbye: a client told "server disconnect" would not
        # reconnect, one that just loses its connection does (and rejoins when we are back).
        sockets = list(self.sio.eio.sockets.values())
        await asyncio.gather(*(s.close(wait=False, abort=True) for s in sockets), return_exceptions=True)
        for s in sockets:
            s.queue.put_nowait(None)  # wakes each websocket's writer, which then closes the websocket

    def app(self) -> web.Application:
        """The aiohttp application: Socket.IO at ``/socket.io/``, ``GET /healthz``, and the client page."""
        app = web.Application()
        self.sio.attach(app)
        app.on_shutdown.append(self.close_sockets)
        app.router.add_get("/healthz", self.healthz)
        if STATIC_DIR.is_dir():
            app.router.add_static("/client/", STATIC_DIR)
            if (STATIC_DIR / "index.html").is_file():

                async def index(request: web.Request) -> web.Response:
                    raise web.HTTPFound("/client/index.html")

                app.router.add_get("/", index)
        app[ROOMS], app[SIO], app[SERVER] = self.rooms, self.sio, self
        return app


def create_app(secret: str, **options: Any) -> web.Application:
    """A :class:`SignalingServer`'s aiohttp application (``options``: its keyword arguments).

    ``secret`` checks room tokens; with ``turn_url``, ``turn_secret`` signs the TURN
    credentials joined clients get. ``app[ROOMS]``, ``app[SIO]`` and ``app[SERVER]`` give a
    notebook or a test a look inside.
    """
    return SignalingServer(secret, **options).app()


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
