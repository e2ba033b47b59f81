"""Our STUN/TURN client against a real coturn, started by this module on a free loopback port."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time

import pytest

from workshop.infra import stun
from workshop.infra.updown import turnserver_config
from workshop.webrtc.turn import turn_credentials

from ._net import free_port

@pytest.fixture(autouse=True)
def _needs_coturn():
    if not shutil.which("turnserver"):
        pytest.fail("coturn is not installed: apt-get install coturn (.ci/run does it)")

SECRET = "integration-test-secret"


@pytest.fixture(scope="module")
def turnserver(tmp_path_factory):
    """``(host, port)`` of a coturn with ``use-auth-secret`` = SECRET; stopped afterwards."""
    d = tmp_path_factory.mktemp("coturn")
    port = free_port()
    conf = d / "turnserver.conf"
    conf.write_text(turnserver_config(SECRET, "127.0.0.1", port, d))
    with open(d / "out.log", "wb") as out:
        proc = subprocess.Popen(["turnserver", "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                asyncio.run(stun.stun_binding("127.0.0.1", port, timeout=0.5))
                break
            except stun.StunError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"turnserver did not start: {(d / 'turnserver.log').read_text()[-500:]}")
        yield "127.0.0.1", port
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def test_binding_returns_our_own_address(turnserver):
    host, port = turnserver
    async with stun.StunClient(host, port) as client:
        mapped = await client.binding()
        local = client._transport.get_extra_info("sockname")
    assert mapped == (local[0], local[1])
    assert client.software.startswith("Coturn-")


async def test_allocate_and_release(turnserver):
    host, port = turnserver
    creds = turn_credentials(SECRET, user="pytest", ttl=120)
    async with stun.TurnClient(host, port, creds["username"], creds["credential"]) as turn:
        relayed = await turn.allocate(lifetime=120)
        assert relayed[0] == "127.0.0.1" and relayed[1] != port
        assert turn.allocation.realm == "workshop"
        assert turn.allocation.lifetime > 0  # coturn rounds short lifetimes up to its default (600 s)
        assert await turn.release() == 0  # the server confirms: lifetime 0, the relay is freed
        assert turn.allocation is None


@pytest.mark.parametrize(("secret", "now"), [("wrong-secret", None), (SECRET, time.time() - 7200)])
async def test_wrong_or_expired_credentials_are_refused(turnserver, secret, now):
    host, port = turnserver
    creds = turn_credentials(secret, user="pytest", ttl=60, now=now)
    async with stun.TurnClient(host, port, creds["username"], creds["credential"]) as turn:
        with pytest.raises(stun.StunError, match="401") as err:
            await turn.allocate()
    assert err.value.code == 401
    assert "TURN_SECRET" in str(err.value)


async def test_nothing_listening_fails_fast():
    started = time.monotonic()
    with pytest.raises(stun.StunError):
        await stun.stun_binding("127.0.0.1", free_port(), timeout=2)
    assert time.monotonic() - started < 2.5


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
