"""Everything the WebRTC notebook needs running in its kernel: a TURN server and a signaling server.

    lab = await start_lab()       # stops the previous lab first: the notebook can be run again
    lab.url, lab.turn_url, lab.turn_kind
    lab.secret                    # signs room tokens (SIGNALING_SECRET, or a fresh one)
    lab.turn_secret               # signs TURN credentials (the TURN server's secret)
    await lab.close()

TURN: the coturn of ``workshop up`` (TURN_URL, TURN_SECRET) when it accepts this
checkout's secret; otherwise a throw-away ``turnserver`` on a free loopback port with
a fresh secret (:class:`~workshop.webrtc.relay.TurnServer`). The signaling server runs in
the kernel on a free port (or ``port``) and serves the browser page at ``/``.

The browser call (``lab.browser_link(room)``, ``await lab.browser_peer(room)``) needs a
signaling server that the *browser* can reach. Natively that is the kernel's own. When the
lab runs in Docker, the kernel's loopback is not the browser's: with ``SIGNALING_URL`` set
(compose sets ``http://signaling:3000``), the notebook peer joins that server, with room
tokens signed by ``SIGNALING_SECRET`` (the server's secret too), and the link points at
``SIGNALING_BROWSER_URL``: where the browser reaches that server (compose sets the port it
publishes on ``127.0.0.1``; without it, the same port as ``SIGNALING_URL`` there; or
``browser_url=``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from workshop.config import PLACEHOLDER, Settings
from workshop.config import settings as load_settings
from workshop.infra.turn import check_secret, ice_servers_for
from workshop.webrtc.call import LIVE, SignalingPeer, Tracks
from workshop.webrtc.peer import CallError, check_turn
from workshop.webrtc.relay import TurnServer
from workshop.webrtc.signaling import create_app, serve
from workshop.webrtc.tokens import room_token, signaling_secret

_current: CallLab | None = None


@dataclass
class CallLab:
    """A running signaling server (``url``) and the TURN server it hands out (``turn_url``)."""

    url: str
    secret: str
    turn_url: str
    turn_kind: str
    runner: web.AppRunner
    turn: TurnServer | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    turn_secret: str = ""  # the TURN server's secret (``secret`` is the signaling server's: room tokens)
    external: Settings | None = None  # SIGNALING_URL is set: the browser call goes through that server
    browser_url: str = ""  # where the browser reaches the browser call's signaling server

    def browser_link(self, room: str, ttl: int = 3600) -> str:
        """The link that opens the call page in ``room``, with a room token valid for ``ttl`` s."""
        secret = signaling_secret(self.external) if self.external else self.secret
        return f"{self.browser_url}/#room={room}&token={room_token(secret, room, ttl=ttl)}"

    async def browser_peer(self, room: str, media: Tracks | None = None) -> SignalingPeer:
        """A notebook peer waiting in ``room`` of the browser call's signaling server (closed by :meth:`close`).

        Asking again replaces the earlier peer (a room holds two: the notebook and the browser).
        """
        for earlier in self.extra.pop("peers", []):
            await earlier.close()
        if self.external is None:
            peer = SignalingPeer("notebook", self.url, room, room_token(self.secret, room), media=media)
        else:  # in Docker: the compose signaling server; TURN as this kernel reaches it
            s = self.external
            peer = SignalingPeer(
                "notebook",
                s.signaling_url,
                room,
                room_token(signaling_secret(s), room),
                media=media,
                ice_servers=ice_servers_for(s.turn_secret, s.turn_url),
            )
        self.extra.setdefault("peers", []).append(peer)
        return await peer.start()

    async def close(self) -> None:
        """Stop both servers (again is harmless)."""
        global _current
        if _current is self:
            _current = None
        if self.extra.pop("closed", False):
            self.extra["closed"] = True
            return
        self.extra["closed"] = True
        for peer in [p for p in LIVE if p.url == self.url or p in self.extra.get("peers", [])]:
            await peer.close()  # e.g. a notebook peer left waiting for the browser
        await self.runner.cleanup()
        if self.turn is not None:
            await self.turn.__aexit__()


async def _workshop_coturn(s: Settings) -> bool:
    try:
        await check_turn(ice_servers_for(s.turn_secret, s.turn_url), timeout=1.5)
        return True
    except Exception:  # not running, other secret, no secret set: use a throw-away one
        return False


def _published(url: str) -> str:
    """The URL a browser on the host uses for a server compose publishes on 127.0.0.1 at the same port."""
    parts = urlsplit(url)
    return f"{parts.scheme}://127.0.0.1:{parts.port or (443 if parts.scheme == 'https' else 80)}"


async def start_lab(
    s: Settings | None = None, port: int = 0, host: str = "127.0.0.1", browser_url: str | None = None
) -> CallLab:
    """Stop the previous lab (if any) and start a new one."""
    global _current
    if _current is not None:
        await _current.close()
        _current = None
    s = s or load_settings()
    if s.signaling_url:  # the external server checks room tokens with the signaling secret: one line if missing
        signaling_secret(s)
        check_secret(s.turn_secret)
    turn = None
    if await _workshop_coturn(s):
        turn_secret, turn_url, kind = s.turn_secret, s.turn_url, "the coturn of `workshop up`"
    else:
        turn_secret = secrets.token_urlsafe(24)
        turn = await TurnServer(turn_secret).__aenter__()
        turn_url, kind = turn.url, "a throw-away coturn (workshop up's did not accept this checkout's secret)"
    secret = s.signaling_secret if s.signaling_secret not in ("", PLACEHOLDER) else secrets.token_urlsafe(24)
    try:
        runner, url = await serve(create_app(secret, turn_url=turn_url, turn_secret=turn_secret), host, port)
    except OSError as exc:
        if turn is not None:
            await turn.__aexit__()
        raise CallError(f"cannot start the signaling server on {host}:{port}: {exc.strerror or exc}") from None
    _current = CallLab(
        url, secret, turn_url, kind, runner, turn, turn_secret=turn_secret, browser_url=browser_url or url
    )
    if s.signaling_url:
        _current.external = s
        _current.browser_url = (browser_url or s.signaling_browser_url or _published(s.signaling_url)).rstrip("/")
    return _current
