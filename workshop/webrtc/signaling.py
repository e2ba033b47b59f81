"""The WebRTC signaling server: the course's Socket.IO server, in Python, with its bugs fixed.

Two browsers cannot send each other their first message: they do not know each
other's address yet. The signaling server is the meeting point. It relays three
kinds of message between peers that joined the same room, and nothing else:

    offer / answer    the SDP session descriptions (codecs, fingerprints, ...)
    ice_candidate     the addresses each peer can be reached at (host, STUN, TURN)

Events (the names of the course's ``server.js``)::

    client → server   join_room(room_id)                    leave_room(room_id)
                      offer({target, offer})   answer({target, answer})
                      ice_candidate({target, candidate})
    server → client   room_users([sid, ...])   user_joined(sid)   user_left(sid)
                      offer({offer, sender})   answer({answer, sender})
                      ice_candidate({candidate, sender})
                      error({event, message})

What the course's version got wrong, and what this one does instead:

* On disconnect it told *every* room that the user left, and never deleted rooms.
  Here only the rooms the socket was in hear ``user_left``; empty rooms disappear.
* It relayed an offer to any ``target`` id, in any room: anyone who learnt a socket id
  could push SDP at it. Here the target must share a room with the sender.
* Rooms had no size: a third browser joining a 1:1 call broke it. Here a room holds
  ``max_room_size`` peers (2 by default) and the next one gets an ``error``.
* It trusted every payload and allowed ``cors: {origin: "*"}``: any web page could
  drive it. Here payloads are checked and only the configured origins may connect.

Run it::

    python -m workshop.webrtc.signaling --host 127.0.0.1 --port 3000
    curl http://127.0.0.1:3000/healthz

Room state lives in this process's memory, so run one signaling process (several
would need the rooms in a shared store such as Redis).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import socketio
from aiohttp import web

log = logging.getLogger("workshop.signaling")

DEFAULT_ORIGINS = (
    "http://localhost:3000", "http://127.0.0.1:3000",  # this server's own page (a later chapter)
    "http://localhost:8888", "http://127.0.0.1:8888",  # JupyterLab
)
MAX_ROOM_SIZE = 2  # a 1:1 call
MAX_ROOMS_PER_CLIENT = 4
MAX_PAYLOAD_BYTES = 64_000  # an SDP is a few kB; a candidate a few hundred bytes
ROOM_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
STATIC_DIR = Path(__file__).with_name("static")  # the browser client, when a chapter adds it

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


def check_room_id(room: Any) -> str:
    """A room id is a short string of letters, digits and ``_ . : -``."""
    if not isinstance(room, str) or not ROOM_ID.fullmatch(room):
        raise SignalingError("room id must be 1-64 characters of A-Z a-z 0-9 _ . : -")
    return room


def check_relay(event: str, data: Any) -> tuple[str, Any]:
    """Check an offer/answer/ice_candidate message; return ``(target, payload)``."""
    key = PAYLOAD_KEY[event]
    if not isinstance(data, dict) or not isinstance(data.get("target"), str) or key not in data:
        raise SignalingError(f"{event} must be an object {{target, {key}}}")
    payload = data[key]
    if event in ("offer", "answer"):
        if not (isinstance(payload, dict) and payload.get("type") == event
                and isinstance(payload.get("sdp"), str)):
            raise SignalingError(f"{key} must be a session description {{type: {event!r}, sdp}}")
    elif payload is not None and not isinstance(payload, dict):  # None: end of candidates
        raise SignalingError("candidate must be an RTCIceCandidate object (or null)")
    if len(json.dumps(payload)) > MAX_PAYLOAD_BYTES:
        raise SignalingError(f"{key} is larger than {MAX_PAYLOAD_BYTES} bytes")
    return data["target"], payload


# --- the server -----------------------------------------------------------------------------

ROOMS = web.AppKey("rooms", Rooms)  # app[ROOMS]: the room bookkeeping of a running server
SIO = web.AppKey("sio", socketio.AsyncServer)


def _version() -> str:
    try:
        return f"python-socketio {version('python-socketio')}"
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def create_app(max_room_size: int = MAX_ROOM_SIZE,
               allowed_origins: list[str] | tuple[str, ...] = DEFAULT_ORIGINS) -> web.Application:
    """The aiohttp application: Socket.IO at ``/socket.io/``, ``GET /healthz``, and the client page.

    ``app[ROOMS]`` and ``app[SIO]`` give a notebook or a test a look inside.
    """
    rooms = Rooms(max_room_size)
    # async_handlers=False: one client's messages are handled in the order they were sent
    # (an ICE candidate must not overtake the offer it belongs to).
    sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins=list(allowed_origins),
                               max_http_buffer_size=2 * MAX_PAYLOAD_BYTES, async_handlers=False)

    def channel(room: str) -> str:
        # Socket.IO gives every sid a room of its own name; a prefix keeps a room id
        # chosen by a client from ever naming another client's private room.
        return f"room:{room}"

    async def reject(sid: str, event: str, error: SignalingError) -> dict[str, str]:
        reply = {"event": event, "message": str(error)}
        log.info("%s: refused %s: %s", sid, event, error)
        await sio.emit("error", reply, to=sid)
        return reply

    @sio.event
    async def connect(sid: str, environ: dict, auth: Any = None) -> None:
        log.info("%s: connected", sid)

    @sio.event
    async def join_room(sid: str, room: Any = None) -> Any:
        try:
            room = check_room_id(room)
            already = sid in rooms.members.get(room, [])
            members = rooms.join(room, sid)
        except SignalingError as exc:
            return await reject(sid, "join_room", exc)
        if not already:
            await sio.enter_room(sid, channel(room))
            await sio.emit("user_joined", sid, to=channel(room), skip_sid=sid)
            log.info("%s: joined %s (%d/%d)", sid, room, len(members), rooms.max_size)
        await sio.emit("room_users", members, to=sid)
        return None

    @sio.event
    async def leave_room(sid: str, room: Any = None) -> Any:
        try:
            room = check_room_id(room)
        except SignalingError as exc:
            return await reject(sid, "leave_room", exc)
        if rooms.leave(room, sid):
            await sio.emit("user_left", sid, to=channel(room), skip_sid=sid)
            await sio.leave_room(sid, channel(room))
        return None

    async def relay(event: str, sid: str, data: Any) -> Any:
        try:
            target, payload = check_relay(event, data)
            if target == sid or not rooms.share_a_room(sid, target):
                raise SignalingError(f"target {target!r} is not in a room with you")
        except SignalingError as exc:
            return await reject(sid, event, exc)
        await sio.emit(event, {PAYLOAD_KEY[event]: payload, "sender": sid}, to=target)
        return None

    @sio.event
    async def offer(sid: str, data: Any = None) -> Any:
        return await relay("offer", sid, data)

    @sio.event
    async def answer(sid: str, data: Any = None) -> Any:
        return await relay("answer", sid, data)

    @sio.event
    async def ice_candidate(sid: str, data: Any = None) -> Any:
        return await relay("ice_candidate", sid, data)

    @sio.event
    async def disconnect(sid: str, reason: Any = None) -> None:
        for room in rooms.leave_all(sid):  # only the rooms this socket was in
            await sio.emit("user_left", sid, to=channel(room), skip_sid=sid)
        log.info("%s: disconnected (%s)", sid, reason)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "version": _version(), "rooms": len(rooms.members),
                                  "clients": len(rooms.rooms_of), "max_room_size": rooms.max_size})

    app = web.Application()
    sio.attach(app)
    app.router.add_get("/healthz", healthz)
    if STATIC_DIR.is_dir():  # hook for the browser client of the WebRTC chapter
        app.router.add_static("/client/", STATIC_DIR)
        if (STATIC_DIR / "index.html").is_file():
            async def index(request: web.Request) -> web.Response:
                raise web.HTTPFound("/client/index.html")

            app.router.add_get("/", index)
    app[ROOMS], app[SIO] = rooms, sio
    return app


def origins_from_env(env: dict[str, str] | None = None) -> tuple[str, ...]:
    """``SIGNALING_ALLOWED_ORIGINS`` (comma-separated), else :data:`DEFAULT_ORIGINS`."""
    raw = (os.environ if env is None else env).get("SIGNALING_ALLOWED_ORIGINS", "")
    found = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    return found or DEFAULT_ORIGINS


def main(argv: list[str] | None = None) -> int:
    """``python -m workshop.webrtc.signaling [--host H] [--port P] [--max-room-size N] [--origin O ...]``."""
    p = argparse.ArgumentParser(prog="python -m workshop.webrtc.signaling", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--max-room-size", type=int, default=MAX_ROOM_SIZE, help="peers per room (2: a 1:1 call)")
    p.add_argument("--origin", action="append", dest="origins",
                   help="a browser origin allowed to connect (repeatable; default: "
                        "$SIGNALING_ALLOWED_ORIGINS or localhost:3000/8888)")
    p.add_argument("-v", "--verbose", action="store_true", help="log every join, leave and refusal")
    args = p.parse_args(argv)
    if args.max_room_size < 1:
        p.error("--max-room-size must be at least 1")
    origins = tuple(args.origins) if args.origins else origins_from_env()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="signaling: %(levelname)s %(message)s")
    app = create_app(args.max_room_size, origins)
    print(f"Signaling server on http://{args.host}:{args.port} "
          f"(rooms of {args.max_room_size}; origins: {', '.join(origins)})", flush=True)
    try:
        web.run_app(app, host=args.host, port=args.port, print=None)
    except OSError as exc:  # port taken, address not available
        raise SystemExit(f"signaling: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
