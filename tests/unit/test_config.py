from pathlib import Path

import pytest

from workshop.config import DEFAULTS, Namespace, default_namespace, read_dotenv, settings
from workshop.errors import ConfigError


def test_defaults_point_at_localhost(tmp_path):
    s = settings(env={}, dotenv=tmp_path / "none.env")
    assert s.redis_url == DEFAULTS["REDIS_URL"]
    assert s.amqp_url.startswith("amqp://") and "127.0.0.1:5672" in s.amqp_url
    assert s.database_url.startswith("postgresql://")
    assert s.turn_host_port == ("127.0.0.1", 3478)
    assert s.signaling_url == ""


def test_environment_beats_dotenv_beats_defaults(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text('# comment\nREDIS_URL="redis://cache:6380/1"\nexport AMQP_URL=amqp://u:p@mq:5673/\n')
    s = settings(env={"AMQP_URL": "amqp://guest:guest@other:5672/"}, dotenv=env_file)
    assert s.redis_url == "redis://cache:6380/1"
    assert s.amqp_url == "amqp://guest:guest@other:5672/"


@pytest.mark.parametrize(
    "var, value, words",
    [
        ("REDIS_URL", "localhost:6379", "REDIS_URL='localhost:6379' is not a redis:// URL"),
        ("AMQP_URL", "http://x", "AMQP_URL='http://x' is not a amqp:// URL"),
        (
            "DATABASE_URL",
            "postgresql://db:port/x",
            "DATABASE_URL='postgresql://db:port/x' has a port that is not a number",
        ),
        ("TURN_URL", "stun.example.org", "TURN_URL='stun.example.org' is not a turn: URL"),
        ("SIGNALING_URL", "ws//x", "SIGNALING_URL='ws//x' is not a http:// URL"),
        ("WORKSHOP_NAMESPACE", "Bad-Name", "WORKSHOP_NAMESPACE='Bad-Name' must be"),
    ],
)
def test_malformed_value_names_the_variable_in_one_line(tmp_path, var, value, words):
    with pytest.raises(ConfigError) as info:
        settings(env={var: value}, dotenv=tmp_path / "none.env")
    message = str(info.value)
    assert words in message
    assert "\n" not in message


def test_malformed_dotenv_line_is_reported_with_its_line_number(tmp_path):
    f = tmp_path / ".env"
    f.write_text("REDIS_URL=redis://x:1/0\nthis is not a setting\n")
    with pytest.raises(ConfigError, match=r"\.env:2: expected KEY=value"):
        read_dotenv(f)


def test_namespace_prefixes_every_kind_of_name():
    ns = Namespace("ws_alice")
    assert ns.key("user_events") == "ws_alice:user_events"
    assert ns.amqp("events") == "ws_alice.events"
    assert ns.schema == "ws_alice"
    assert ns.child("ch03").name == "ws_alice_ch03"


def test_default_namespace_is_derived_from_the_user():
    assert default_namespace("Alice Smith") == "ws_alice_smith"
    assert default_namespace("ROOT") == "ws_root"
    assert default_namespace("---") == "ws_learner"


def test_empty_namespace_in_dotenv_means_default(tmp_path):
    f = tmp_path / ".env"
    f.write_text("WORKSHOP_NAMESPACE=\n")
    assert settings(env={}, dotenv=f).namespace.name == default_namespace()
    assert settings(env={"WORKSHOP_NAMESPACE": "ws_bob"}, dotenv=f).namespace.name == "ws_bob"


def test_env_example_lists_every_variable_config_reads():
    example = read_dotenv(Path(__file__).resolve().parents[2] / ".env.example")
    for var in [*DEFAULTS, "TURN_SECRET", "WORKSHOP_NAMESPACE"]:
        assert var in example, f"{var} missing from .env.example"
