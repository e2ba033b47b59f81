"""aiortc peers for the course: ICE configuration, loopback host addresses, bounded waits, the selected pair.

Four things aiortc does quietly that a course must not:

* ``iceServers=None`` means Google's public STUN server: :func:`rtc_config` always passes a list;
* aioice leaves ``127.0.0.1`` out of the host candidates: :func:`host_addresses` says which
  addresses to offer (loopback in a notebook and in tests, so no packet leaves the machine);
* a wrong TURN secret or an unreachable TURN server just means *no relay candidate*, and the
  call then waits forever: :func:`check_turn` asks coturn first, with a deadline;
* ``getStats()`` has no candidate pair: :func:`selected_pair` reads the nominated pair from
  the ICE connection — the proof that media went through the relay.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from workshop.errors import WorkshopError
from workshop.infra.stun import StunError, TurnProbe


class CallError(WorkshopError):
    """A call could not be set up; the message says which step and why."""


_host_addresses: list[str] | None = None  # None: aioice's own choice (every address but loopback)
_aioice_default = aioice.ice.get_host_addresses


def _configured(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    if _host_addresses is None:
        return _aioice_default(use_ipv4=use_ipv4, use_ipv6=use_ipv6)
    return list(_host_addresses)


aioice.ice.get_host_addresses = _configured  # one hook; the addresses are chosen by host_addresses()


@contextlib.contextmanager
def host_addresses(addresses: list[str] | None) -> Iterator[None]:
    """Within the block, peers offer exactly these host addresses (``["127.0.0.1"]``: loopback only)."""
    global _host_addresses
    before, _host_addresses = _host_addresses, addresses
    try:
        yield
    finally:
        _host_addresses = before


def rtc_config(ice_servers: list[dict[str, Any]], relay: bool = False) -> RTCConfiguration:
    """An ``RTCConfiguration`` from a browser-style ``iceServers`` list; ``relay=True``: TURN only."""
    servers = [RTCIceServer(**server) for server in ice_servers]  # [] stays []: no Google STUN
    policy = RTCIceTransportPolicy.RELAY if relay else RTCIceTransportPolicy.ALL
    return RTCConfiguration(iceServers=servers, iceTransportPolicy=policy)


def turn_server(ice_servers: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first ``turn:`` entry of an ``iceServers`` list."""
    for server in ice_servers:
        urls = [server["urls"]] if isinstance(server["urls"], str) else server["urls"]
        if any(u.startswith("turn:") for u in urls):
            return server
    return None


async def check_turn(ice_servers: list[dict[str, Any]], timeout: float = 2.0) -> tuple[str, int]:
    """Allocate (and free) a relay with the list's TURN credentials; :class:`CallError` when that fails."""
    from workshop.config import _parse_turn

    server = turn_server(ice_servers)
    if server is None:
        raise CallError("a relay call needs a turn: server in iceServers, and there is none")
    url = next(
        u for u in ([server["urls"]] if isinstance(server["urls"], str) else server["urls"]) if u.startswith("turn:")
    )
    host, port = _parse_turn(url)
    for attempt in (1, 2):
        try:
            async with TurnProbe(host, port, timeout) as probe:
                return await probe.allocate(server["username"], server["credential"])
        except StunError as exc:
            if exc.code == 437 and attempt == 1:
                # coturn still holds an allocation freed on this port less than a second ago (it frees
                # on a one-second tick) and the kernel gave us the same port: a new socket gets another
                continue
            if exc.code == 401:
                raise CallError(
                    f"TURN at {host}:{port} refused the credentials (401): they have expired, or were "
                    "signed with a secret that is not coturn's static-auth-secret (TURN_SECRET)"
                ) from None
            raise CallError(f"TURN at {host}:{port} is unreachable: {exc}") from None
    raise AssertionError("unreachable: the second attempt returns or raises")


async def wait_connected(pc: RTCPeerConnection, timeout: float = 10.0, what: str = "the call") -> None:
    """Wait until ``pc`` is connected; :class:`CallError` when ICE fails or ``timeout`` passes."""
    done = asyncio.get_running_loop().create_future()

    def changed() -> None:
        if pc.connectionState in ("connected", "failed", "closed") and not done.done():
            done.set_result(pc.connectionState)

    pc.on("connectionstatechange", changed)
    changed()
    try:
        state = await asyncio.wait_for(asyncio.shield(done), timeout)
    except TimeoutError:
        state = None
    finally:
        pc.remove_listener("connectionstatechange", changed)
    if state == "connected":
        return
    ice = pc.iceConnectionState
    if state is None:
        raise CallError(
            f"{what} did not connect within {timeout:g} s (ICE state {ice!r}, "
            f"{len(local_candidates(pc))} local candidates)"
        )
    raise CallError(
        f"{what} failed: no candidate pair worked (ICE {ice!r}; {len(local_candidates(pc))} local candidates)"
    )


def ice_connection(pc: RTCPeerConnection) -> Any:
    """The aioice ``Connection`` under ``pc`` (None before it has a transport)."""
    for transceiver in pc.getTransceivers():
        transport = transceiver.sender.transport or transceiver.receiver.transport
        if transport is not None:
            return transport.transport._connection  # aioice.Connection (no public accessor)
    if pc.sctp is not None:
        return pc.sctp.transport.transport._connection
    return None


def local_candidates(pc: RTCPeerConnection) -> list[Any]:
    """The aioice candidates ``pc`` gathered."""
    connection = ice_connection(pc)
    return list(connection.local_candidates) if connection is not None else []


def selected_pair(pc: RTCPeerConnection) -> dict[str, Any]:
    """The nominated candidate pair: ``{"local": "relay 127.0.0.1:49161", "remote": ..., "relayed": True}``."""
    connection = ice_connection(pc)
    pair = connection._nominated.get(1) if connection is not None else None
    if pair is None:
        raise CallError("no candidate pair is selected yet: the call is not connected")
    local, remote = pair.local_candidate, pair.remote_candidate
    return {
        "local": f"{local.type} {local.host}:{local.port}",
        "remote": f"{remote.type} {remote.host}:{remote.port}",
        "relayed": "relay" in (local.type, remote.type),
    }
