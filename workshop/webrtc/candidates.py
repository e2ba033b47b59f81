"""Gather one peer's ICE candidates, live: a host address, a STUN answer, a TURN allocation.

This is the first thing a WebRTC peer does, before any offer is sent. aioice (the ICE
library under aiortc) opens a UDP socket per local address (**host** candidate), sends
one STUN *Binding* request from it to the STUN server and reads the address the server
saw in the answer (**server-reflexive**, ``srflx``), and allocates an address on the
TURN server (**relay**) with time-limited credentials::

    found = await gather_candidates(ice_servers_for(secret, "turn:127.0.0.1:3478"))
    [(c["type"], c["address"]) for c in found]
    # [('host', '127.0.0.1:50123'), ('srflx', '127.0.0.1:50123'), ('relay', '127.0.0.1:61234')]

On one machine there is no NAT in between, so the reflexive address *is* the host
address; behind a home router it would be the router's public address and port.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import aioice

from workshop.config import _parse_turn
from workshop.waiting import within
from workshop.webrtc.peer import CallError, host_addresses, turn_server

MEANING = {
    "host": "this machine's own interface",
    "srflx": "the address the STUN server saw (a NAT's mapping, if there is one)",
    "relay": "an address on the TURN server, forwarded to us",
}


def _on_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name such as "coturn"
        return False


async def gather_candidates(
    ice_servers: list[dict[str, Any]], addresses: list[str] | None = None, timeout: float = 5.0
) -> list[dict[str, str]]:
    """Gather host, server-reflexive and relay candidates with the list's STUN/TURN server.

    ``addresses``: the host addresses to use (default: loopback only when the server is on
    loopback, so nothing leaves the machine; otherwise aioice's choice, every address but
    loopback — in Docker, coturn is another container). Returns ``[{"type", "address", "related", "meaning"}, ...]``, host first.
    """
    turn = turn_server(ice_servers)
    if turn is None:
        raise CallError("gathering needs a turn: server (with credentials) in iceServers, and there is none")
    url = next(u for u in ([turn["urls"]] if isinstance(turn["urls"], str) else turn["urls"]) if u.startswith("turn:"))
    server = _parse_turn(url)
    if addresses is None and _on_loopback(server[0]):
        addresses = ["127.0.0.1"]
    connection = aioice.Connection(
        ice_controlling=True,
        components=1,
        stun_server=server,
        turn_server=server,
        turn_username=turn["username"],
        turn_password=turn["credential"],
    )
    try:
        with host_addresses(addresses):
            await within(connection.gather_candidates(), timeout, what=f"ICE candidates from {url}")
        found = list(connection.local_candidates)
    finally:
        await connection.close()
    order = {"host": 0, "srflx": 1, "relay": 2}
    rows = []
    for c in sorted(found, key=lambda c: order.get(c.type, 3)):
        related = f"{c.related_address}:{c.related_port}" if c.related_address else ""
        rows.append(
            {"type": c.type, "address": f"{c.host}:{c.port}", "related": related, "meaning": MEANING.get(c.type, "")}
        )
    missing = {"srflx", "relay"} - {r["type"] for r in rows}
    if missing:  # aioice drops a failed STUN/TURN request silently: say so
        raise CallError(
            f"no {' and no '.join(sorted(missing))} candidate from {url}: is coturn running, and does "
            "it accept these credentials? (workshop doctor)"
        )
    return rows
