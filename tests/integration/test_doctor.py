"""`workshop doctor` against the real services, and against dead or silent ports."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workshop.config import settings
from workshop.fixes import FIXES
from workshop.infra.doctor import adoctor, doctor

from ._net import cli_env, free_port, turnserver, workshop


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Environment for the CLI with our own coturn (started by `workshop up coturn`) on a free port."""
    if not shutil.which("turnserver"):
        pytest.fail("coturn is not installed: `make setup` installs it")
    tmp = tmp_path_factory.mktemp("doctor")
    env = cli_env(tmp, TURN_URL=f"turn:127.0.0.1:{free_port()}", TURN_SECRET="doctor-test-secret")
    up = workshop("up", "--native", "coturn", env=env, timeout=60)
    assert up.returncode == 0, up.stdout + up.stderr
    yield env
    down = workshop("down", env=env, timeout=60)
    assert "coturn" in down.stdout and "stopped" in down.stdout, down.stdout + down.stderr


def test_all_up_exits_zero(env):
    result = workshop("doctor", env=env, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for service in ("PostgreSQL", "Redis", "RabbitMQ", "coturn"):
        row = next(line for line in lines if line.startswith(service + " "))
        assert "✅ up" in row, row
    assert "All required services are up." in result.stdout
    assert "guest:guest" not in result.stdout  # passwords are redacted


def test_json_output(env):
    result = workshop("doctor", "--json", env=env, timeout=30)
    report = json.loads(result.stdout)
    assert report["ok"] is True and result.returncode == 0
    by_service = {s["service"]: s for s in report["services"]}
    assert by_service["Redis"]["version"].startswith(("6.", "7.", "8."))
    assert by_service["coturn"]["ok"] and "relayed" in by_service["coturn"]["detail"]
    assert by_service["RabbitMQ management"]["required"] is False
    assert all(s["latency_ms"] > 0 for s in report["services"] if s["ok"])


def test_redis_down_exits_nonzero_with_the_fix(env):
    dead = free_port()
    result = workshop("doctor", env={**env, "REDIS_URL": f"redis://127.0.0.1:{dead}/0"}, timeout=30)
    assert result.returncode == 1
    row = next(line for line in result.stdout.splitlines() if line.startswith("Redis "))
    assert "❌ down" in row
    docker_fix, native_fix = FIXES["Redis"]
    assert native_fix in result.stdout and docker_fix in result.stdout
    assert "connection refused" in result.stdout


def test_dead_amqp_port_never_hangs(env):
    started = time.monotonic()
    result = workshop("doctor", env={**env, "AMQP_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/"}, timeout=30)
    assert time.monotonic() - started < 8
    assert result.returncode == 1
    assert FIXES["RabbitMQ"][1] in result.stdout
    assert "error when creating transport" not in result.stderr  # aiormq's own log line is silenced


def test_silent_amqp_port_times_out(env):
    """A port that accepts TCP connections and never says a word: the probe's timeout ends it."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"amqp://guest:guest@127.0.0.1:{silent.getsockname()[1]}/"
        started = time.monotonic()
        result = workshop("doctor", "--timeout", "1.5", env={**env, "AMQP_URL": url}, timeout=30)
        elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert elapsed < 8, elapsed
    row = next(line for line in result.stdout.splitlines() if line.startswith("RabbitMQ "))
    assert "❌ down" in row


def test_optional_management_down_does_not_fail(env):
    url = f"http://guest:guest@127.0.0.1:{free_port()}/"
    result = workshop("doctor", env={**env, "RABBITMQ_MANAGEMENT_URL": url}, timeout=30)
    assert result.returncode == 0, result.stdout
    assert "➖ off (optional)" in result.stdout
    assert FIXES["RabbitMQ management"][1] in result.stdout


def test_missing_turn_secret_is_named(env):
    result = workshop("doctor", env={**env, "TURN_SECRET": "change-me"}, timeout=30)
    assert result.returncode == 1
    assert "TURN_SECRET" in result.stdout and "workshop env" in result.stdout


def test_signaling_checked_only_when_configured(env):
    result = workshop("doctor", env={**env, "SIGNALING_URL": f"http://127.0.0.1:{free_port()}"}, timeout=30)
    assert "signaling" in result.stdout
    assert "signaling" not in workshop("doctor", env=env, timeout=30).stdout


async def test_doctor_works_inside_a_running_event_loop(env):
    """As at a notebook's top level: `doctor()` (worker thread) and `await adoctor()` both work."""
    s = settings(env=env)
    report = doctor(s)
    assert report.ok, str(report)
    awaited = await adoctor(s)
    assert [r.service for r in awaited.results] == [r.service for r in report.results]
    html = report._repr_html_()
    assert html.startswith("<table") and html.count("<tr>") == len(report.results) + 1
    assert "✅" in html
    frame = report.to_frame()
    assert list(frame["service"])[:3] == ["PostgreSQL", "Redis", "RabbitMQ"]
    assert frame["ok"].all() == all(r.ok for r in report.results)


def test_text_table_is_aligned(env):
    report = doctor(settings(env={**env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}))
    assert not report.ok
    lines = str(report).splitlines()
    header, rows = lines[0], lines[1 : 1 + len(report.results)]
    column = header.index("status")
    assert all(row[column] in "✅❌➖" for row in rows), rows
    assert "fix: native: " + FIXES["Redis"][1] in str(report)


# --- two checkouts, one coturn (workshop.infra.coturn) --------------------------------------

OTHER_SECRET = "the-other-checkouts-secret"


@pytest.fixture(scope="module")
def other_checkout(tmp_path_factory):
    """A coturn started by "another checkout" (its config in <checkout>/.workshop/) with its own secret."""
    checkout = tmp_path_factory.mktemp("other-checkout")
    with turnserver(checkout / ".workshop", OTHER_SECRET) as port:
        yield checkout, port


def test_a_coturn_with_another_secret_is_a_401_with_the_right_fix(env, other_checkout):
    checkout, port = other_checkout
    result = workshop("doctor", env={**env, "TURN_URL": f"turn:127.0.0.1:{port}"}, timeout=30)
    assert result.returncode == 1
    row = next(line for line in result.stdout.splitlines() if line.startswith("coturn "))
    assert "❌ down" in row and "Coturn" not in row
    assert (
        f"coturn: up on 127.0.0.1:{port}, but it rejects this checkout's TURN_SECRET (401 Unauthorized)"
        in result.stdout
    )
    assert "nothing listen" not in result.stdout  # the old, wrong verdict
    assert f"fix: workshop env  (copies the secret of the coturn started from {checkout})" in result.stdout
    assert f"`workshop down` in {checkout}" in result.stdout


def test_workshop_env_takes_the_running_coturns_secret_then_the_doctor_is_happy(env, other_checkout, tmp_path):
    checkout, port = other_checkout
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"TURN_URL=turn:127.0.0.1:{port}\nTURN_SECRET=this-checkouts-own-secret\n")
    example = tmp_path / ".env.example"
    example.write_text("TURN_URL=turn:127.0.0.1:3478\nTURN_SECRET=change-me\n")
    own = {**{k: v for k, v in env.items() if not k.startswith("TURN_")}, "WORKSHOP_ENV_FILE": str(dotenv)}
    assert workshop("doctor", env=own, timeout=30).returncode == 1  # 401 before

    result = workshop("env", "--example", str(example), "--env", str(dotenv), env=own, timeout=30)
    assert result.returncode == 0, result.stderr
    assert (
        f"TURN_SECRET: now the secret of the coturn already running on turn:127.0.0.1:{port} "
        f"(started from {checkout})" in result.stdout
    )
    assert OTHER_SECRET not in result.stdout  # never printed
    assert settings(env={}, dotenv=dotenv).turn_secret == OTHER_SECRET
    doctor_after = workshop("doctor", env=own, timeout=30)
    assert doctor_after.returncode == 0, doctor_after.stdout

    again = workshop("env", "--example", str(example), "--env", str(dotenv), env=own, timeout=30)
    assert "TURN_SECRET: now" not in again.stdout  # already shared: nothing to say


def test_a_coturn_we_cannot_read_says_whose_secret_to_ask_for(env, tmp_path):
    """A coturn not started by `workshop up` (no config file of ours): the fix names the secret to get."""
    port = free_port()
    log = tmp_path / "turnserver.log"
    proc = subprocess.Popen(
        [
            "turnserver",
            "--listening-ip",
            "127.0.0.1",
            "--listening-port",
            str(port),
            "--realm",
            "workshop",
            "--use-auth-secret",
            "--static-auth-secret",
            "theirs",
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--log-file",
            str(log),
            "--simple-log",
            "--pidfile",
            str(tmp_path / "pid"),
            "--db",
            str(tmp_path / "db"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline, result = time.monotonic() + 10, None
        while time.monotonic() < deadline:
            result = workshop("doctor", env={**env, "TURN_URL": f"turn:127.0.0.1:{port}"}, timeout=30)
            if "401" in result.stdout:
                break
            time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(5)
    assert "rejects this checkout's TURN_SECRET (401 Unauthorized)" in result.stdout, result.stdout
    assert "fix: set TURN_SECRET in .env to the static-auth-secret of whoever started that coturn" in result.stdout


def test_coturn_not_installed_marks_chapter_5_and_gives_the_install_command(env, tmp_path):
    """As on a machine where coturn could not be installed: `make lab` opens, the doctor says what is lost."""
    others = tmp_path / "bin"  # every other program the doctor looks for stays on PATH: only coturn is missing
    others.mkdir()
    for program in ("patroni", "etcd", "redis-sentinel"):
        if found := shutil.which(program):
            (others / program).symlink_to(found)
    path = f"{Path(sys.executable).parent}:{others}"
    without = {**env, "PATH": path, "TURN_URL": f"turn:127.0.0.1:{free_port()}"}
    result = workshop("doctor", env=without, timeout=30)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    at = lines.index(next(line for line in lines if line.startswith("coturn: ")))
    assert lines[at + 1] == "  affects: chapter 5 (WebRTC)"
    assert lines[at + 2].startswith("  fix: sudo apt-get install -y coturn, then: workshop up coturn")
    assert "affects:" not in result.stdout.replace(lines[at + 1], "")  # the other chapters are fine
