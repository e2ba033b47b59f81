"""Time-limited TURN credentials (the "TURN REST API" that coturn's ``use-auth-secret`` speaks).

A TURN server relays media, so it must not be open to anyone. Rather than a
fixed password in the browser's JavaScript, the server and our backend share
one secret (``TURN_SECRET``) and the backend hands each client a password that
expires:

    username   = "<unix expiry time>:<user>"
    credential = base64(HMAC-SHA1(secret, username))

coturn recomputes the same HMAC, and refuses the username once its expiry time
has passed. Nothing needs to be stored on either side.

    >>> from workshop.infra.turn import turn_credentials
    >>> turn_credentials("s3cret", user="learner", ttl=3600, now=1700000000)["username"]
    '1700003600:learner'
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from workshop.config import PLACEHOLDER, Settings, _parse_turn
from workshop.errors import ConfigError


def check_secret(secret: str | None) -> str:
    """Return ``secret``, or raise :class:`ConfigError` if it is missing or the placeholder."""
    if not secret or secret.strip() == PLACEHOLDER:
        raise ConfigError(
            "TURN_SECRET is not set (or is still 'change-me'): run `workshop env` "
            "to write a fresh one into .env, then restart coturn (`workshop down && workshop up`)"
        )
    return secret


def turn_credentials(
    secret: str,
    user: str = "learner",
    ttl: int = 3600,
    now: float | None = None,
    urls: list[str] | None = None,
) -> dict[str, Any]:
    """Credentials valid for ``ttl`` seconds from ``now`` (default: the current time).

    Returns ``{"username", "credential", "ttl", "urls"}`` — the shape of the
    TURN REST API response, ready to go into an ``RTCIceServer``.
    """
    check_secret(secret)
    if ttl <= 0:
        raise ConfigError(f"ttl must be a positive number of seconds, got {ttl}")
    if ":" in user:
        raise ConfigError(f"user must not contain ':' (it separates expiry and user), got {user!r}")
    expiry = int(now if now is not None else time.time()) + int(ttl)
    username = f"{expiry}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return {
        "username": username,
        "credential": base64.b64encode(digest).decode("ascii"),
        "ttl": int(ttl),
        "urls": list(urls or []),
    }


def ice_servers(s: Settings, user: str = "learner", ttl: int = 3600) -> list[dict[str, Any]]:
    """The ``iceServers`` list for a browser or aiortc peer: our STUN and our TURN.

    In a browser: ``new RTCPeerConnection({iceServers})``. With aiortc:
    ``RTCConfiguration(iceServers=[RTCIceServer(**server) for server in ice_servers(s)])``.
    """
    return ice_servers_for(s.turn_secret, s.turn_url, user=user, ttl=ttl)


def ice_servers_for(secret: str, turn_url: str, user: str = "learner", ttl: int = 3600) -> list[dict[str, Any]]:
    """:func:`ice_servers` from a secret and a ``turn:host:port`` URL (what the signaling server hands out)."""
    host, port = _parse_turn(turn_url)
    hostport = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    creds = turn_credentials(secret, user=user, ttl=ttl, urls=[turn_url])
    return [
        {"urls": [f"stun:{hostport}"]},
        {"urls": creds["urls"], "username": creds["username"], "credential": creds["credential"]},
    ]
