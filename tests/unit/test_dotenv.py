"""`workshop env` (workshop.infra.dotenv): fresh secrets, idempotent, never printed."""

from __future__ import annotations

import stat

from workshop.config import read_dotenv, repo_root
from workshop.infra.dotenv import fill_env, main

EXAMPLE = """\
# comment kept
WORKSHOP_NAMESPACE=
REDIS_URL=redis://127.0.0.1:6379/0
TURN_SECRET=change-me
POSTGRES_PASSWORD=change-me
"""


def _example(tmp_path):
    path = tmp_path / ".env.example"
    path.write_text(EXAMPLE)
    return path


def test_creates_env_with_random_secrets(tmp_path):
    example, env = _example(tmp_path), tmp_path / ".env"
    filled = fill_env(example, env)
    values = read_dotenv(env)
    assert filled == ["TURN_SECRET", "POSTGRES_PASSWORD"]
    assert "change-me" not in env.read_text()
    assert len(values["TURN_SECRET"]) >= 32
    assert values["TURN_SECRET"] != values["POSTGRES_PASSWORD"]
    assert values["REDIS_URL"] == "redis://127.0.0.1:6379/0" and values["WORKSHOP_NAMESPACE"] == ""
    assert "# comment kept" in env.read_text()
    assert stat.S_IMODE(env.stat().st_mode) == 0o600


def test_second_run_changes_nothing(tmp_path):
    example, env = _example(tmp_path), tmp_path / ".env"
    fill_env(example, env)
    before = env.read_text()
    assert fill_env(example, env) == []
    assert env.read_text() == before


def test_existing_env_only_missing_or_placeholder_values_are_filled(tmp_path):
    example, env = _example(tmp_path), tmp_path / ".env"
    env.write_text("REDIS_URL=redis://127.0.0.1:6380/0\nTURN_SECRET=mine\nPOSTGRES_PASSWORD=change-me\n")
    env.chmod(0o644)
    filled = fill_env(example, env)
    values = read_dotenv(env)
    assert filled == ["POSTGRES_PASSWORD"]
    assert values["TURN_SECRET"] == "mine"  # kept: coturn may be running with it
    assert values["REDIS_URL"] == "redis://127.0.0.1:6380/0"  # the learner's edit stays
    assert values["POSTGRES_PASSWORD"] not in ("", "change-me")
    assert values["WORKSHOP_NAMESPACE"] == ""  # missing key added from the example
    assert stat.S_IMODE(env.stat().st_mode) == 0o600


def test_empty_secret_counts_as_missing(tmp_path):
    example, env = _example(tmp_path), tmp_path / ".env"
    env.write_text("TURN_SECRET=\nPOSTGRES_PASSWORD=x\n")
    assert fill_env(example, env) == ["TURN_SECRET"]
    assert read_dotenv(env)["TURN_SECRET"]


def test_cli_never_prints_secrets(tmp_path, capsys):
    example, env = _example(tmp_path), tmp_path / ".env"
    assert main(["--example", str(example), "--env", str(env)]) == 0
    out = capsys.readouterr().out
    assert "TURN_SECRET" in out
    assert read_dotenv(env)["TURN_SECRET"] not in out
    assert main(["--example", str(example), "--env", str(env)]) == 0
    assert "nothing to change" in capsys.readouterr().out


def test_cli_missing_example_fails(tmp_path, capsys):
    assert main(["--example", str(tmp_path / "nope"), "--env", str(tmp_path / ".env")]) == 1
    assert not (tmp_path / ".env").exists()


def test_the_real_example_gets_a_signaling_secret_of_its_own(tmp_path):
    env = tmp_path / ".env"
    env.write_text("TURN_SECRET=mine\n")  # a checkout from before SIGNALING_SECRET existed
    filled = fill_env(repo_root() / ".env.example", env)
    values = read_dotenv(env)
    assert "SIGNALING_SECRET" in filled and "TURN_SECRET" not in filled
    assert len(values["SIGNALING_SECRET"]) >= 32 and values["SIGNALING_SECRET"] != values["TURN_SECRET"] == "mine"
