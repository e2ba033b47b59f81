"""Signed, expiring room tokens: who may join which signaling room, and until when.

The course's server let anyone join any room by name — and since a room holds two
peers, two strangers who guessed the name first locked its owners out. Here the
backend that knows the secret (the notebook, or whoever hands out call links)
signs ``(room, expiry)``; the signaling server checks the signature and the clock
and stores nothing::

    token = "<unix expiry>.<base64url HMAC-SHA256(key, room + '\\n' + expiry)>"

    >>> t = room_token("s3cret", "call-1", ttl=600, now=1700000000)
    >>> t.split(".")[0]
    '1700000600'
    >>> check_room_token("s3cret", "call-1", t, now=1700000100)
    1700000600

The secret is ``SIGNALING_SECRET`` (`workshop env` writes a fresh one into `.env`), not
coturn's ``TURN_SECRET``: whoever may hand out call links need not be able to mint TURN
credentials, and the two can be rotated apart. The key is derived from it with a label, so
a token can never pass for anything else signed with the same secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from workshop.config import PLACEHOLDER, Settings
from workshop.errors import ConfigError, WorkshopError

LABEL = b"workshop signaling room token v1"


class TokenError(WorkshopError, ValueError):
    """A room token is missing, malformed, signed for another room, or expired."""


def signaling_secret(s: Settings) -> str:
    """``s.signaling_secret``, or a one-line :class:`ConfigError` if it is missing or still ``change-me``."""
    secret = s.signaling_secret
    if not secret or secret.strip() == PLACEHOLDER:
        raise ConfigError(
            "SIGNALING_SECRET is not set (or is still 'change-me'): run `workshop env` to write a fresh one into .env"
        )
    return secret


def _key(secret: str) -> bytes:
    if not secret:
        raise TokenError("no secret to sign room tokens with: set SIGNALING_SECRET (`workshop env`)")
    return hmac.new(secret.encode(), LABEL, hashlib.sha256).digest()


def _signature(secret: str, room: str, expiry: int) -> str:
    mac = hmac.new(_key(secret), f"{room}\n{expiry}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")


def room_token(secret: str, room: str, ttl: int = 3600, now: float | None = None) -> str:
    """A token that lets its holder join ``room`` for ``ttl`` seconds from ``now``."""
    if ttl <= 0:
        raise TokenError(f"ttl must be a positive number of seconds, got {ttl}")
    expiry = int(time.time() if now is None else now) + int(ttl)
    return f"{expiry}.{_signature(secret, room, expiry)}"


def check_room_token(secret: str, room: str, token: object, now: float | None = None) -> int:
    """Return the token's expiry time, or raise :class:`TokenError` saying what is wrong with it."""
    if not isinstance(token, str) or not token:
        raise TokenError("join_room needs {room, token}: ask the call's organiser for a link with a token")
    expiry_text, dot, signature = token.partition(".")
    if not dot or not expiry_text.isdigit() or len(token) > 100:
        raise TokenError("the room token is malformed")
    expiry = int(expiry_text)
    if not hmac.compare_digest(signature, _signature(secret, room, expiry)):
        raise TokenError("the room token is not valid for this room")
    if expiry <= (time.time() if now is None else now):
        raise TokenError("the room token has expired: ask for a new link")
    return expiry
