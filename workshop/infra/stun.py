"""Does coturn really work? One STUN Binding and one TURN allocation, sent with aioice.

WebRTC peers behind NAT ask a **STUN** server "what address do you see me
at?" (a *Binding* request, answered with XOR-MAPPED-ADDRESS) and, when no
direct path exists, ask a **TURN** server to *allocate* a relay address. The
messages and the long-term-credential handshake (a first Allocate is refused
with 401 plus a realm and nonce; the retry is signed with them) come from
``aioice``, the ICE library under aiortc. This module adds what a doctor
needs on top: a deadline on every wait, an immediate answer when nothing
listens, and one-line errors.

    >>> async with TurnProbe("127.0.0.1", 3478) as probe:
    ...     await probe.binding()                          # ('127.0.0.1', 54321)
    ...     probe.software                                 # "Coturn-4.6.1 'Gorst'"
    ...     await probe.allocate(username, password)       # ('127.0.0.1', 49160), then freed
    ...     probe.realm                                    # 'workshop'
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from aioice import stun
from aioice.turn import TurnClientUdpProtocol

from workshop.errors import WorkshopError


class StunError(WorkshopError):
    """No answer in time, nothing listening, or an error response (``code``, e.g. 401)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class _Protocol(TurnClientUdpProtocol):
    """aioice's TURN client over UDP, plus: an ICMP "port unreachable" is remembered."""

    refused: asyncio.Future

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.refused = asyncio.get_running_loop().create_future()

    def error_received(self, exc: Exception) -> None:
        if not self.refused.done():
            self.refused.set_result(exc)


class TurnProbe:
    """One UDP socket to one STUN/TURN server. Use ``async with``; every call waits at most ``timeout``."""

    def __init__(self, host: str, port: int = 3478, timeout: float = 2.0) -> None:
        self.server = (host, port)
        self.timeout = timeout
        self.software = ""  # the server's SOFTWARE attribute, e.g. "Coturn-4.6.1 'Gorst'"
        self.realm = ""  # the realm coturn named in its 401 challenge ("workshop")
        self._transport: asyncio.BaseTransport | None = None
        self._protocol: _Protocol | None = None

    async def __aenter__(self) -> TurnProbe:
        self._transport, self._protocol = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _Protocol(self.server, None, None, lifetime=600, channel_refresh_time=500),
            remote_addr=self.server,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._transport:
            self._transport.close()

    async def _ask(self, request: Awaitable[Any]) -> Any:
        """Wait for one aioice request: its answer, or a one-line :class:`StunError`."""
        assert self._protocol, "use `async with TurnProbe(...)`"
        host, port = self.server
        task = asyncio.ensure_future(request)
        done, _ = await asyncio.wait(
            {task, self._protocol.refused}, timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if task not in done:
            task.cancel()
            if self._protocol.refused.done():
                raise StunError(f"nothing answers STUN at {host}:{port} (connection refused)")
            raise StunError(f"no answer from {host}:{port} within {self.timeout:g} s")
        try:
            return task.result()
        except stun.TransactionFailed as exc:
            code, reason = exc.response.attributes.get("ERROR-CODE", (0, "unknown error"))
            raise StunError(f"{code} {reason}", code) from None
        except (stun.TransactionTimeout, ConnectionError) as exc:
            raise StunError(f"{host}:{port}: {exc}") from None

    async def binding(self) -> tuple[str, int]:
        """A Binding request: the address the server sees us at (and its SOFTWARE, kept)."""
        request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
        response, _ = await self._ask(self._protocol.request(request))  # type: ignore[union-attr]
        self.software = response.attributes.get("SOFTWARE", "")
        if "XOR-MAPPED-ADDRESS" not in response.attributes:
            raise StunError("Binding response without XOR-MAPPED-ADDRESS")
        return response.attributes["XOR-MAPPED-ADDRESS"]

    async def allocate(self, username: str, password: str, lifetime: int = 60) -> tuple[str, int]:
        """Allocate a UDP relay with these credentials, then free it; return the relayed address.

        A 401 after the signed retry means the password is wrong: coturn's
        ``static-auth-secret`` is not the ``TURN_SECRET`` that signed it.
        """
        protocol = self._protocol
        assert protocol, "use `async with TurnProbe(...)`"
        protocol.username, protocol.password, protocol.lifetime = username, password, lifetime
        try:
            relayed = await self._ask(protocol.connect())  # 401 challenge, then the signed Allocate
        except StunError as exc:
            if exc.code != 401:
                raise
            raise StunError(
                "TURN refused our credentials: 401 Unauthorized (coturn's static-auth-secret is not this TURN_SECRET)",
                401,
            ) from None
        self.realm = protocol.realm or ""
        await self._ask(protocol.delete())  # free the relay now (a Refresh with LIFETIME 0), close the socket
        return relayed


async def stun_binding(host: str, port: int = 3478, timeout: float = 2.0) -> tuple[str, int]:
    """Ask a STUN server for our (server-reflexive) address; :class:`StunError` if it does not answer."""
    async with TurnProbe(host, port, timeout) as probe:
        return await probe.binding()
