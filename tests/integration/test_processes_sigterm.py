"""Every kind of course process starts through workshop.run and stops on SIGTERM within its deadline.

One test per process kind (chapter 1's services and API, chapter 2's publisher, subscriber and
consumer, chapter 4's relay, projectors and two APIs, chapter 5's signaling server): start it
as compose would, wait for the line that says it is ready, send SIGTERM, and expect exit code 0
within the grace period of :func:`workshop.process.run` — and nothing on stderr.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time

import pytest

from workshop.orders.processes import child_env
from workshop.process import free_port

GRACE = 10.0  # workshop.process.run's default


def kinds() -> list[tuple[str, list[str], str]]:
    """(id, arguments after -m, the ready line's start); ports are picked when the test runs."""
    return [
        ("orders-payment", ["workshop.run.orders", "payment"], "payment: consuming"),
        ("orders-order-api", ["workshop.run.orders", "order", "--port", "{port}"], "order: consuming"),
        ("pubsub-publisher", ["workshop.run.pubsub", "publisher", "--interval", "0.2"], "publisher: publishing"),
        ("pubsub-subscriber", ["workshop.run.pubsub", "subscriber"], "subscriber: subscribed"),
        ("pubsub-consumer", ["workshop.run.pubsub", "consumer", "--group", "g", "--consumer", "c1"], "c1: consuming"),
        ("cqrs-relay", ["workshop.run.cqrs", "relay"], "relay: forwarding"),
        ("cqrs-projectors", ["workshop.run.cqrs", "projectors"], "projectors:"),
        ("cqrs-write-api", ["workshop.run.cqrs", "write-api", "--port", "{port}"], None),
        ("cqrs-read-api", ["workshop.run.cqrs", "read-api", "--port", "{port}"], None),
        ("signaling", ["workshop.run.signaling", "--port", "{port}"], "Signaling server on"),
    ]


async def _ready(proc: asyncio.subprocess.Process, line_start: str | None, port: int) -> None:
    if line_start is not None:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line.decode().startswith(line_start), line
        return
    import httpx  # an API prints nothing: ready when /healthz answers

    async with httpx.AsyncClient() as http:
        deadline = time.monotonic() + 60
        while True:
            assert proc.returncode is None, (await proc.stderr.read()).decode()[-500:]
            try:
                if (await http.get(f"http://127.0.0.1:{port}/healthz", timeout=2)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the API did not answer /healthz within 60 s"
            await asyncio.sleep(0.2)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind, args, ready", kinds(), ids=[k[0] for k in kinds()])
async def test_the_process_stops_on_sigterm_within_its_deadline(ws_settings, kind, args, ready):
    port = free_port()
    argv = [a.replace("{port}", str(port)) for a in args]
    env = {**child_env(ws_settings), "REDIS_URL": ws_settings.redis_url, "PYTHONUNBUFFERED": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        await _ready(proc, ready, port)
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), GRACE + 5)
        took = time.monotonic() - start
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()[-800:]
    assert took < GRACE, f"{kind} took {took:.1f} s to stop"
    assert err.decode().strip() == "", err.decode()[-800:]
