"""Everything the WebRTC notebook needs running in its kernel: a TURN server and a signaling server.

    lab = await start_lab()       # stops the previous lab first: the notebook can be run again
    lab.url, lab.turn_url, lab.turn_kind
    await lab.close()

TURN: the coturn of ``workshop up`` (TURN_URL, TURN_SECRET) when it accepts this
checkout's secret; otherwise a throw-away ``turnserver`` on a free loopback port with
a fresh secret (:class:`~workshop.webrtc.relay.TurnServer`). The signaling server runs in
the kernel on a free port (or ``port``) and serves the browser page at ``/``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from workshop.config import Settings, settings as load_settings
from workshop.webrtc.call import LIVE
from workshop.webrtc.peer import CallError, check_turn
from workshop.webrtc.relay import TurnServer
from workshop.webrtc.signaling import create_app, serve
from workshop.infra.turn import ice_servers_for

_current: "CallLab | None" = None


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

    async def close(self) -> None:
        """Stop both servers (again is harmless)."""
        global _current
        if _current is self:
            _current = None
        if self.extra.pop("closed", False):
            self.extra["closed"] = True
            return
        self.extra["closed"] = True
        for peer in [p for p in LIVE if p.url == self.url]:  # e.g. a notebook peer left waiting for the browser
            await peer.close()
        await self.runner.cleanup()
        if self.turn is not None:
            await self.turn.__aexit__()


async def _workshop_coturn(s: Settings) -> bool:
    try:
        await check_turn(ice_servers_for(s.turn_secret, s.turn_url), timeout=1.5)
        return True
    except Exception:  # not running, other secret, no secret set: use a throw-away one
        return False


async def start_lab(s: Settings | None = None, port: int = 0, host: str = "127.0.0.1") -> CallLab:
    """Stop the previous lab (if any) and start a new one."""
    global _current
    if _current is not None:
        await _current.close()
        _current = None
    s = s or load_settings()
    turn = None
    if await _workshop_coturn(s):
        secret, turn_url, kind = s.turn_secret, s.turn_url, "the coturn of `workshop up`"
    else:
        secret = secrets.token_urlsafe(24)
        turn = await TurnServer(secret).__aenter__()
        turn_url, kind = turn.url, "a throw-away coturn (workshop up's did not accept this checkout's secret)"
    try:
        runner, url = await serve(create_app(secret, turn_url=turn_url), host, port)
    except OSError as exc:
        if turn is not None:
            await turn.__aexit__()
        raise CallError(f"cannot start the signaling server on {host}:{port}: {exc.strerror or exc}") from None
    _current = CallLab(url, secret, turn_url, kind, runner, turn)
    return _current
