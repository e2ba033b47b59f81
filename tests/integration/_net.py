"""Helpers for the service tests: free loopback ports and running the `workshop` CLI."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (coturn listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket() as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free port")


def cli_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The process environment, isolated from the repository's .env, plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "AMQP_", "DATABASE_", "TURN_",
                                                                     "SIGNALING_", "RABBITMQ_"))}
    env.update(WORKSHOP_ENV_FILE=str(tmp_path / "no.env"), WORKSHOP_STATE_DIR=str(tmp_path / "state"))
    env.update(overrides)
    return env


def workshop(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``workshop <args>`` in a subprocess, as a learner would."""
    return subprocess.run([sys.executable, "-m", "workshop.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


@contextlib.contextmanager
def turnserver(state: Path, secret: str) -> Iterator[int]:
    """A throw-away coturn configured as `workshop up` does, from ``state/turnserver.conf``; yields its port."""
    import pytest

    from workshop.infra.coturn import turnserver_config
    from workshop.infra.stun import StunError, stun_binding

    state.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = state / "turnserver.conf"
    conf.write_text(turnserver_config(secret, "127.0.0.1", port, state))
    with open(state / "out.log", "wb") as out:
        proc = subprocess.Popen(["turnserver", "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                asyncio.run(stun_binding("127.0.0.1", port, timeout=0.5))
                break
            except StunError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"turnserver did not start: {(state / 'turnserver.log').read_text()[-500:]}")
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
