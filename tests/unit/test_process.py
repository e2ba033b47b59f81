"""workshop.process: the one way to spawn a throw-away server and the one way a course process runs."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import subprocess
import sys
import textwrap

import pytest

from workshop.errors import WorkshopError
from workshop.process import Server, free_port, port_open
from workshop.waiting import WaitTimeout

LISTEN = "import socket, sys, time; s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(60)"


def test_free_port_is_free_for_tcp_and_udp():
    port = free_port(udp=True)
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.bind(("127.0.0.1", port))


def test_free_port_from_a_start_skips_a_taken_one():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        start = taken.getsockname()[1]
        assert free_port(start=start) > start


def test_a_server_answers_then_is_stopped(tmp_path):
    port = free_port()
    server = Server(
        "listener",
        [sys.executable, "-c", LISTEN.format(port=port)],
        ready=lambda: port_open("127.0.0.1", port),
        log=tmp_path / "log",
    )
    with server:
        assert port_open("127.0.0.1", port) and server.running
        proc = server.proc
    assert proc is not None and proc.returncode is not None  # stopped on the way out
    assert not port_open("127.0.0.1", port)


def test_a_server_that_exits_at_once_is_one_line_quoting_its_log(tmp_path):
    crash = "import sys; print('bind: address already in use', flush=True); sys.exit(3)"
    server = Server("crasher", [sys.executable, "-c", crash], ready=lambda: False, log=tmp_path / "log")
    with pytest.raises(WorkshopError, match=r"^crasher exited at once \(code 3\): bind: address already in use$"):
        server.start()
    assert not server.running


def test_a_server_that_never_answers_is_stopped_after_its_deadline(tmp_path):
    server = Server(
        "sleeper",
        [sys.executable, "-c", "import time; time.sleep(60)"],
        ready=lambda: False,
        log=tmp_path / "log",
        startup_timeout=0.5,
    )
    with pytest.raises(WaitTimeout, match=r"^waited 0.5 s for sleeper to answer"):
        server.start()
    assert server.proc is None  # stopped, not left running


async def test_astart_keeps_the_server_when_worker_threads_come_and_go(tmp_path):
    """The parent-death signal follows the thread that forked: astart forks in the loop's thread."""
    port = free_port()
    server = Server(
        "listener",
        [sys.executable, "-c", LISTEN.format(port=port)],
        ready=lambda: port_open("127.0.0.1", port),
        log=tmp_path / "log",
    )
    async with server:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:  # threads that end right away
            await asyncio.get_running_loop().run_in_executor(pool, lambda: None)
        await asyncio.sleep(0.3)
        assert server.running and port_open("127.0.0.1", port)
    assert not server.running


ENTRY = textwrap.dedent("""
    import asyncio, sys
    from workshop.errors import WorkshopError
    from workshop.process import run

    async def main(stop):
        if sys.argv[1] == "fail":
            raise WorkshopError("RabbitMQ is not reachable (connection refused). Start it: workshop up")
        print("ready", flush=True)
        if sys.argv[1] == "stubborn":
            while True:  # ignores `stop`
                await asyncio.sleep(0.05)
        await stop.wait()

    raise SystemExit(run("demo", main, grace=1.0))
""")


def test_run_turns_a_workshop_error_into_one_line_and_exit_code_1():
    done = subprocess.run([sys.executable, "-c", ENTRY, "fail"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "demo: RabbitMQ is not reachable (connection refused). Start it: workshop up"
    ]


@pytest.mark.parametrize("kind, code", [("good", 0), ("stubborn", 1)])
def test_run_stops_on_sigterm_within_the_grace_period(kind, code):
    proc = subprocess.Popen(
        [sys.executable, "-c", ENTRY, kind], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == code
    if kind == "stubborn":  # it did not return within the grace: cancelled, and said so in one line
        assert err.strip().splitlines()[-1] == "demo: waited 1 s for demo to stop after SIGTERM, but it did not happen"
    else:
        assert err == ""
