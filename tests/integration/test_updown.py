"""`workshop up` / `workshop down` (native path): start what is missing, stop only that."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest

from workshop.config import settings
from workshop.infra.updown import SERVICES, _alive

from ._net import cli_env, free_port, workshop


@pytest.fixture(autouse=True)
def _needs_coturn():
    if not shutil.which("turnserver"):
        pytest.fail("coturn is not installed: `make setup` installs it")


def started(env: dict[str, str]) -> dict:
    path = Path(env["WORKSHOP_STATE_DIR"]) / "started.json"
    return json.loads(path.read_text()) if path.exists() else {}


def machine_services_answer() -> dict[str, str]:
    """What the pre-running PostgreSQL, Redis and RabbitMQ say (from the default settings)."""
    s = settings(env={}, dotenv="/nonexistent")
    return {name: SERVICES[name].check(*SERVICES[name].address(s)) for name in ("postgres", "redis", "rabbitmq")}


@pytest.fixture
def env(tmp_path):
    env = cli_env(tmp_path, TURN_URL=f"turn:127.0.0.1:{free_port()}", TURN_SECRET="updown-test-secret")
    yield env
    if started(env):  # a failed test must not leave a turnserver behind
        workshop("down", env=env, timeout=60)


def test_up_starts_coturn_down_stops_it_and_nothing_else(env):
    assert machine_services_answer() == {"postgres": "yes", "redis": "yes", "rabbitmq": "yes"}

    first = workshop("up", "--native", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    for label in ("PostgreSQL", "Redis", "RabbitMQ"):
        assert f"{label}" in first.stdout and "not started by us: left alone" in first.stdout
    assert "coturn      started on" in first.stdout
    state = started(env)
    assert list(state) == ["coturn"]  # only what it started is recorded
    pid = state["coturn"]["pid"]
    assert _alive(pid, "turnserver")
    assert workshop("doctor", env=env, timeout=30).returncode == 0

    second = workshop("up", "--native", env=env)  # idempotent: starts nothing
    assert second.returncode == 0
    assert "started on" not in second.stdout
    assert "coturn      already running" in second.stdout and "started by `workshop up`" in second.stdout
    assert started(env) == state

    down = workshop("down", env=env, timeout=60)
    assert down.returncode == 0
    assert down.stdout.splitlines() == ["coturn      stopped"]
    assert not _alive(pid, "turnserver")
    assert started(env) == {}
    assert machine_services_answer() == {"postgres": "yes", "redis": "yes", "rabbitmq": "yes"}

    again = workshop("down", env=env, timeout=30)
    assert again.returncode == 0 and "Nothing to stop" in again.stdout


def test_missing_redis_is_started_on_its_own_port_and_stopped(env):
    port = free_port()
    env = {**env, "REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    up = workshop("up", "--native", "redis", env=env, timeout=60)
    assert up.returncode == 0, up.stdout + up.stderr
    assert f"Redis       started on 127.0.0.1:{port}" in up.stdout
    pid = started(env)["redis"]["pid"]
    assert SERVICES["redis"].check("127.0.0.1", port) == "yes"
    down = workshop("down", env=env, timeout=60)
    assert down.returncode == 0 and "Redis       stopped" in down.stdout
    assert not _alive(pid, "redis-server")
    assert SERVICES["redis"].check("127.0.0.1", port) == "closed"
    assert SERVICES["redis"].check("127.0.0.1", 6379) == "yes"  # the machine's Redis is untouched


def test_port_taken_by_something_else_is_reported(env):
    with socket.socket() as squatter:  # listens, but does not speak Redis
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(4)
        port = squatter.getsockname()[1]
        up = workshop("up", "--native", "redis", env={**env, "REDIS_URL": f"redis://127.0.0.1:{port}/0"}, timeout=60)
    assert up.returncode == 1
    assert f"port 127.0.0.1:{port} is taken by another program that is not Redis" in up.stdout
    assert started(env) == {}


def test_missing_turn_secret_says_run_workshop_env(env):
    up = workshop("up", "--native", "coturn", env={**env, "TURN_SECRET": "change-me"}, timeout=60)
    assert up.returncode == 1
    assert "workshop env" in up.stdout
    assert started(env) == {}


def test_unknown_service_is_a_usage_error(env):
    up = workshop("up", "--native", "mongodb", env=env, timeout=30)
    assert up.returncode == 2 and "unknown service 'mongodb'" in up.stderr


def test_down_never_kills_a_process_that_reused_the_pid(env):
    """The recorded pid now belongs to another program: `down` forgets it and leaves it alone."""
    import subprocess
    import sys

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        state_file = Path(env["WORKSHOP_STATE_DIR"]) / "started.json"
        state_file.parent.mkdir(parents=True, exist_ok=True)
        state_file.write_text(json.dumps({"coturn": {"pid": other.pid, "program": "turnserver"}}))
        down = workshop("down", env=env, timeout=30)
        assert down.returncode == 0
        assert other.poll() is None  # still running
        assert started(env) == {}
    finally:
        other.kill()
        other.wait()
