"""A small STUN/TURN client over UDP — enough to check that coturn really works.

WebRTC peers behind NAT ask a **STUN** server "what address do you see me
at?" (a *Binding* request, answered with XOR-MAPPED-ADDRESS) and, when a
direct path is impossible, ask a **TURN** server to *allocate* a relay
address for them. This module speaks just those messages (RFC 5389, RFC 5766):

    >>> mapped = await stun_binding("127.0.0.1", 3478)                 # ('127.0.0.1', 54321)
    >>> async with TurnClient("127.0.0.1", 3478, username, password) as turn:
    ...     relayed = await turn.allocate()                           # ('127.0.0.1', 49160)
    ...     await turn.release()                                      # Refresh, lifetime 0

A STUN message is a 20-byte header (type, length, magic cookie, 12-byte
transaction id) followed by attributes, each ``type | length | value`` padded
to 4 bytes. TURN uses the *long-term credential* mechanism: the first
Allocate is refused with 401 and a realm + nonce; the retry carries USERNAME,
REALM, NONCE and a MESSAGE-INTEGRITY (HMAC-SHA1 keyed with
``MD5(username:realm:password)``). FINGERPRINT (a CRC-32) ends each message.

Every wait has a timeout; nothing here can hang a notebook.
"""

from __future__ import annotations

import asyncio
import binascii
import hashlib
import hmac
import ipaddress
import os
import struct
from dataclasses import dataclass, field
from typing import Iterator

from workshop.errors import WorkshopError

MAGIC_COOKIE = 0x2112A442
HEADER = struct.Struct("!HHI12s")  # type, body length, magic cookie, transaction id
FINGERPRINT_XOR = 0x5354554E  # "STUN"

# methods (RFC 5389 / RFC 5766)
BINDING, ALLOCATE, REFRESH = 0x001, 0x003, 0x004
# classes
REQUEST, INDICATION, SUCCESS, ERROR = 0b00, 0b01, 0b10, 0b11

# attributes
MAPPED_ADDRESS = 0x0001
USERNAME = 0x0006
MESSAGE_INTEGRITY = 0x0008
ERROR_CODE = 0x0009
LIFETIME = 0x000D
REALM = 0x0014
NONCE = 0x0015
XOR_RELAYED_ADDRESS = 0x0016
REQUESTED_TRANSPORT = 0x0019
XOR_MAPPED_ADDRESS = 0x0020
SOFTWARE = 0x8022
FINGERPRINT = 0x8028

UDP = 17  # REQUESTED-TRANSPORT: the relay carries UDP
SOFTWARE_NAME = b"workshop-stun"


class StunError(WorkshopError):
    """A malformed message, an error response, or no answer in time."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


# --- message types ------------------------------------------------------------------------

def message_type(method: int, cls: int) -> int:
    """Interleave the 12 method bits and 2 class bits into the 14-bit type (RFC 5389 §6)."""
    return (
        (method & 0x000F) | ((method & 0x0070) << 1) | ((method & 0x0F80) << 2)
        | ((cls & 0b01) << 4) | ((cls & 0b10) << 7)
    )


def split_type(msg_type: int) -> tuple[int, int]:
    """The inverse of :func:`message_type`: ``(method, class)``."""
    method = (msg_type & 0x000F) | ((msg_type & 0x00E0) >> 1) | ((msg_type & 0x3E00) >> 2)
    cls = ((msg_type >> 4) & 0b01) | ((msg_type >> 7) & 0b10)
    return method, cls


# --- messages -----------------------------------------------------------------------------

@dataclass
class Message:
    """One STUN message; ``raw`` keeps the received bytes for integrity checks."""

    method: int
    cls: int
    transaction_id: bytes = field(default_factory=lambda: os.urandom(12))
    attributes: list[tuple[int, bytes]] = field(default_factory=list)
    raw: bytes = b""

    def add(self, attr_type: int, value: bytes) -> "Message":
        self.attributes.append((attr_type, value))
        return self

    def get(self, attr_type: int) -> bytes | None:
        """The value of the first attribute of this type, or None."""
        return next((v for t, v in self.attributes if t == attr_type), None)

    def encode(self, key: bytes | None = None, fingerprint: bool = True) -> bytes:
        """Bytes on the wire; with ``key``, add MESSAGE-INTEGRITY; then FINGERPRINT."""
        body = b"".join(_attribute(t, v) for t, v in self.attributes)
        msg_type = message_type(self.method, self.cls)
        if key is not None:
            # the HMAC covers the header with a length that already counts MESSAGE-INTEGRITY (24 bytes)
            header = HEADER.pack(msg_type, len(body) + 24, MAGIC_COOKIE, self.transaction_id)
            body += _attribute(MESSAGE_INTEGRITY, hmac.new(key, header + body, hashlib.sha1).digest())
        if fingerprint:
            header = HEADER.pack(msg_type, len(body) + 8, MAGIC_COOKIE, self.transaction_id)
            crc = binascii.crc32(header + body) ^ FINGERPRINT_XOR
            body += _attribute(FINGERPRINT, struct.pack("!I", crc))
        return HEADER.pack(msg_type, len(body), MAGIC_COOKIE, self.transaction_id) + body

    @property
    def error(self) -> tuple[int, str] | None:
        """``(code, reason)`` from ERROR-CODE, e.g. ``(401, 'Unauthorized')``."""
        value = self.get(ERROR_CODE)
        if value is None or len(value) < 4:
            return None
        return (value[2] & 0x07) * 100 + value[3], value[4:].decode("utf-8", "replace")


def _attribute(attr_type: int, value: bytes) -> bytes:
    padding = b"\x00" * (-len(value) % 4)
    return struct.pack("!HH", attr_type, len(value)) + value + padding


def _walk(raw: bytes) -> Iterator[tuple[int, bytes, int]]:
    """Yield ``(type, value, offset)`` for each attribute of a raw message."""
    end = HEADER.size + struct.unpack_from("!H", raw, 2)[0]
    offset = HEADER.size
    while offset < end:
        if offset + 4 > end:
            raise StunError("truncated attribute header")
        attr_type, length = struct.unpack_from("!HH", raw, offset)
        if offset + 4 + length > end:
            raise StunError(f"attribute 0x{attr_type:04x} runs past the end of the message")
        yield attr_type, raw[offset + 4 : offset + 4 + length], offset
        offset += 4 + length + (-length % 4)


def decode(raw: bytes) -> Message:
    """Parse bytes into a :class:`Message`; :class:`StunError` if they are not STUN."""
    if len(raw) < HEADER.size:
        raise StunError(f"{len(raw)} bytes is shorter than a STUN header")
    msg_type, length, cookie, tid = HEADER.unpack_from(raw)
    if msg_type & 0xC000 or cookie != MAGIC_COOKIE or length % 4:
        raise StunError("not a STUN message (bad type bits, magic cookie or length)")
    if HEADER.size + length > len(raw):
        raise StunError("message length runs past the datagram")
    method, cls = split_type(msg_type)
    raw = raw[: HEADER.size + length]
    attributes = [(t, v) for t, v, _ in _walk(raw)]
    return Message(method, cls, tid, attributes, raw)


def check_integrity(raw: bytes, key: bytes) -> bool:
    """True if the MESSAGE-INTEGRITY of ``raw`` was made with ``key``."""
    for attr_type, value, offset in _walk(raw):
        if attr_type == MESSAGE_INTEGRITY:
            covered = bytearray(raw[:offset])
            struct.pack_into("!H", covered, 2, offset - HEADER.size + 24)
            return hmac.compare_digest(value, hmac.new(key, bytes(covered), hashlib.sha1).digest())
    return False


def check_fingerprint(raw: bytes) -> bool | None:
    """True/False if the FINGERPRINT matches; None if the message has none."""
    for attr_type, value, offset in _walk(raw):
        if attr_type == FINGERPRINT:
            covered = bytearray(raw[:offset])
            struct.pack_into("!H", covered, 2, offset - HEADER.size + 8)
            return struct.unpack("!I", value)[0] == binascii.crc32(bytes(covered)) ^ FINGERPRINT_XOR
    return None


def long_term_key(username: str, realm: str, password: str) -> bytes:
    """The long-term credential key: ``MD5(username:realm:password)`` (RFC 5389 §15.4)."""
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).digest()


# --- addresses ------------------------------------------------------------------------------

def encode_xor_address(host: str, port: int, transaction_id: bytes) -> bytes:
    """XOR-MAPPED-ADDRESS value: the address XOR-ed with the cookie (and the id, for IPv6).

    The XOR stops old NATs from "helpfully" rewriting addresses they see in payloads.
    """
    ip = ipaddress.ip_address(host)
    mask = struct.pack("!I", MAGIC_COOKIE) + (transaction_id if ip.version == 6 else b"")
    xored = bytes(a ^ b for a, b in zip(ip.packed, mask))
    family = 0x01 if ip.version == 4 else 0x02
    return struct.pack("!BBH", 0, family, port ^ (MAGIC_COOKIE >> 16)) + xored


def decode_xor_address(value: bytes, transaction_id: bytes) -> tuple[str, int]:
    """``(host, port)`` from an XOR-MAPPED-ADDRESS / XOR-RELAYED-ADDRESS value."""
    _, family, xport = struct.unpack_from("!BBH", value)
    size = {0x01: 4, 0x02: 16}.get(family)
    if size is None or len(value) < 4 + size:
        raise StunError(f"bad address family {family} or length {len(value)}")
    mask = struct.pack("!I", MAGIC_COOKIE) + transaction_id
    packed = bytes(a ^ b for a, b in zip(value[4 : 4 + size], mask))
    return str(ipaddress.ip_address(packed)), xport ^ (MAGIC_COOKIE >> 16)


# --- the UDP client -------------------------------------------------------------------------

class _Protocol(asyncio.DatagramProtocol):
    """Matches each response to the waiting request by transaction id."""

    def __init__(self) -> None:
        self.waiting: dict[bytes, asyncio.Future[Message]] = {}

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        try:
            msg = decode(data)
        except StunError:
            return  # not for us
        future = self.waiting.pop(msg.transaction_id, None)
        if future and not future.done():
            future.set_result(msg)

    def error_received(self, exc: Exception) -> None:  # e.g. ICMP port unreachable
        for future in self.waiting.values():
            if not future.done():
                future.set_exception(StunError(f"no STUN server there ({exc})"))
        self.waiting.clear()


class StunClient:
    """One UDP socket talking to one STUN/TURN server. Use ``async with``."""

    def __init__(self, host: str, port: int = 3478, timeout: float = 2.0) -> None:
        self.server = (host, port)
        self.timeout = timeout
        self._transport: asyncio.DatagramTransport | None = None
        self._protocol = _Protocol()
        self.software = ""  # the server's SOFTWARE attribute, e.g. "Coturn-4.6.1 'Gorst'"

    async def __aenter__(self) -> "StunClient":
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: self._protocol, remote_addr=self.server
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._transport:
            self._transport.close()

    async def request(self, msg: Message, key: bytes | None = None) -> Message:
        """Send ``msg`` and wait for its response, retransmitting (UDP may lose it).

        Retransmits after 0.25 s, 0.5 s, 1 s … until ``self.timeout`` has passed.
        """
        assert self._transport, "use `async with StunClient(...)`"
        future = asyncio.get_running_loop().create_future()
        self._protocol.waiting[msg.transaction_id] = future
        data = msg.encode(key)
        deadline = asyncio.get_running_loop().time() + self.timeout
        rto = 0.25
        try:
            while True:
                self._transport.sendto(data)
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    raise StunError(f"no answer from {self.server[0]}:{self.server[1]} within {self.timeout:g} s")
                try:
                    return await asyncio.wait_for(asyncio.shield(future), min(rto, left))
                except asyncio.TimeoutError:
                    rto *= 2
        finally:
            self._protocol.waiting.pop(msg.transaction_id, None)
            future.cancel()

    async def binding(self) -> tuple[str, int]:
        """A Binding request: the address the server sees us at."""
        response = await self.request(Message(BINDING, REQUEST).add(SOFTWARE, SOFTWARE_NAME))
        if response.cls != SUCCESS:
            code, reason = response.error or (0, "?")
            raise StunError(f"Binding refused: {code} {reason}", code)
        self.software = (response.get(SOFTWARE) or b"").decode("utf-8", "replace")
        value = response.get(XOR_MAPPED_ADDRESS)
        if value is None:
            raise StunError("Binding response without XOR-MAPPED-ADDRESS")
        return decode_xor_address(value, response.transaction_id)


async def stun_binding(host: str, port: int = 3478, timeout: float = 2.0) -> tuple[str, int]:
    """Ask a STUN server for our (server-reflexive) address."""
    async with StunClient(host, port, timeout) as client:
        return await client.binding()


@dataclass
class Allocation:
    """What a successful TURN Allocate gave us."""

    relayed: tuple[str, int]
    mapped: tuple[str, int] | None
    lifetime: int
    realm: str


class TurnClient(StunClient):
    """A TURN client with long-term credentials (e.g. from :func:`workshop.webrtc.turn.turn_credentials`)."""

    def __init__(self, host: str, port: int, username: str, password: str, timeout: float = 3.0) -> None:
        super().__init__(host, port, timeout)
        self.username, self.password = username, password
        self.realm = ""
        self.nonce = b""
        self.key: bytes | None = None
        self.allocation: Allocation | None = None

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self.allocation is not None:  # still live: free it
                await asyncio.wait_for(self.release(), self.timeout)
        except Exception:
            pass
        await super().__aexit__(*exc)

    async def _authenticated(self, method: int, attributes: list[tuple[int, bytes]]) -> Message:
        """Send a request with credentials; on 401/438 take the new realm/nonce and retry once."""
        for attempt in range(2):
            msg = Message(method, REQUEST, attributes=list(attributes))
            if self.key is not None:
                msg.add(USERNAME, self.username.encode()).add(REALM, self.realm.encode()).add(NONCE, self.nonce)
            response = await self.request(msg, self.key)
            code = response.error[0] if response.error else None
            if code in (401, 438) and attempt == 0 and response.get(NONCE) is not None:
                # 401: the challenge ("here is my realm and a nonce"); 438: stale nonce
                self.nonce = response.get(NONCE) or b""
                self.realm = (response.get(REALM) or self.realm.encode()).decode()
                if code == 401 and self.key is not None:
                    break  # we did send credentials: they are wrong
                self.key = long_term_key(self.username, self.realm, self.password)
                continue
            break
        if response.cls != SUCCESS:
            code, reason = response.error or (0, "unknown error")
            hint = " (wrong credentials: is TURN_SECRET the same as coturn's static-auth-secret?)" if code == 401 else ""
            raise StunError(f"TURN request refused: {code} {reason}{hint}", code)
        if response.get(MESSAGE_INTEGRITY) is not None and not check_integrity(response.raw, self.key or b""):
            raise StunError("TURN response failed its MESSAGE-INTEGRITY check")
        return response

    async def allocate(self, lifetime: int = 600) -> tuple[str, int]:
        """Allocate a UDP relay; returns the relayed address (also kept in ``self.allocation``)."""
        response = await self._authenticated(ALLOCATE, [
            (REQUESTED_TRANSPORT, struct.pack("!B3x", UDP)),
            (LIFETIME, struct.pack("!I", lifetime)),
            (SOFTWARE, SOFTWARE_NAME),
        ])
        relayed = response.get(XOR_RELAYED_ADDRESS)
        if relayed is None:
            raise StunError("Allocate response without XOR-RELAYED-ADDRESS")
        mapped = response.get(XOR_MAPPED_ADDRESS)
        life = response.get(LIFETIME)
        self.allocation = Allocation(
            relayed=decode_xor_address(relayed, response.transaction_id),
            mapped=decode_xor_address(mapped, response.transaction_id) if mapped else None,
            lifetime=struct.unpack("!I", life)[0] if life else lifetime,
            realm=self.realm,
        )
        return self.allocation.relayed

    async def release(self) -> int:
        """Free the allocation now (a Refresh with LIFETIME 0) instead of waiting for it to expire.

        Returns the lifetime the server granted: 0 means it is gone.
        """
        response = await self._authenticated(REFRESH, [(LIFETIME, struct.pack("!I", 0))])
        self.allocation = None
        life = response.get(LIFETIME)
        return struct.unpack("!I", life)[0] if life else 0
