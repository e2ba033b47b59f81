"""The doctor's STUN/TURN probe (aioice underneath) against a real coturn on a free loopback port."""

from __future__ import annotations

import shutil
import socket
import time

import pytest

from workshop.infra import stun
from workshop.infra.turn import turn_credentials

from ._net import free_port
from ._net import turnserver as start_turnserver


@pytest.fixture(autouse=True)
def _needs_coturn():
    if not shutil.which("turnserver"):
        pytest.fail("coturn is not installed: `make setup` installs it")


SECRET = "integration-test-secret"


@pytest.fixture(scope="module")
def turnserver(tmp_path_factory):
    """``(host, port)`` of a coturn with ``use-auth-secret`` = SECRET; stopped afterwards."""
    with start_turnserver(tmp_path_factory.mktemp("coturn"), SECRET) as port:
        yield "127.0.0.1", port


async def test_binding_returns_our_own_address(turnserver):
    host, port = turnserver
    async with stun.TurnProbe(host, port) as probe:
        mapped = await probe.binding()
        local = probe._transport.get_extra_info("sockname")
    assert mapped == (local[0], local[1])
    assert probe.software.startswith("Coturn-")


async def test_allocate_then_release(turnserver):
    host, port = turnserver
    creds = turn_credentials(SECRET, user="pytest", ttl=120)
    async with stun.TurnProbe(host, port) as probe:
        relayed = await probe.allocate(creds["username"], creds["credential"])
        assert relayed[0] == "127.0.0.1" and relayed[1] != port
        assert probe.realm == "workshop"
        assert probe._transport.is_closing()  # released (Refresh, lifetime 0) and the socket closed


@pytest.mark.parametrize(("secret", "now"), [("wrong-secret", None), (SECRET, time.time() - 7200)])
async def test_wrong_or_expired_credentials_are_refused(turnserver, secret, now):
    host, port = turnserver
    creds = turn_credentials(secret, user="pytest", ttl=60, now=now)
    async with stun.TurnProbe(host, port) as probe:
        with pytest.raises(stun.StunError, match="401") as err:
            await probe.allocate(creds["username"], creds["credential"])
    assert err.value.code == 401
    assert "TURN_SECRET" in str(err.value)


async def test_nothing_listening_fails_fast():
    """The kernel's "port unreachable" ends the wait at once: no need to sit out the timeout."""
    started = time.monotonic()
    with pytest.raises(stun.StunError, match="nothing answers STUN"):
        await stun.stun_binding("127.0.0.1", free_port(), timeout=2)
    assert time.monotonic() - started < 1


async def test_silent_server_times_out():
    """A UDP socket that never answers: the client retransmits, then gives up on time."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        started = time.monotonic()
        with pytest.raises(stun.StunError, match="no answer"):
            await stun.stun_binding("127.0.0.1", silent.getsockname()[1], timeout=0.8)
        elapsed = time.monotonic() - started
        silent.settimeout(0)
        received = 0
        while True:
            try:
                silent.recv(1500)
                received += 1
            except BlockingIOError:
                break
    assert 0.7 < elapsed < 1.5
    assert received >= 2  # it retransmitted
