"""Helpers for the service tests: free loopback ports and running the `workshop` CLI."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from workshop import process


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (coturn listens on both)."""
    return process.free_port(udp=True)


def cli_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The process environment, isolated from the repository's .env, plus ``overrides``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("REDIS_", "AMQP_", "DATABASE_", "TURN_", "SIGNALING_", "RABBITMQ_"))
    }
    env.update(WORKSHOP_ENV_FILE=str(tmp_path / "no.env"), WORKSHOP_STATE_DIR=str(tmp_path / "state"))
    env.update(overrides)
    return env


def workshop(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``workshop <args>`` in a subprocess, as a learner would."""
    return subprocess.run(
        [sys.executable, "-m", "workshop.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@contextlib.contextmanager
def turnserver(state: Path, secret: str) -> Iterator[int]:
    """A throw-away coturn configured as `workshop up` does, from ``state/turnserver.conf``; yields its port."""
    from workshop.infra.coturn import turnserver_config
    from workshop.infra.stun import StunError, stun_binding

    state.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = state / "turnserver.conf"
    conf.write_text(turnserver_config(secret, "127.0.0.1", port, state))

    def answers() -> bool:
        try:
            asyncio.run(stun_binding("127.0.0.1", port, timeout=0.5))
            return True
        except StunError:
            return False

    with process.Server(
        "turnserver",
        ["turnserver", "-c", str(conf)],
        ready=answers,
        log=state / "turnserver.log",
        output=state / "out.log",
        startup_timeout=10,
        stop_timeout=5,
    ):
        yield port
