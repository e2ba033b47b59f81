"""Learner names, credentials on disk, the environment each server gets, the Redis ACL rules."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import nbformat
import pytest

from workshop.classroom import redis_acl
from workshop.classroom.learners import Learner, Roster, class_names, with_login
from workshop.config import settings
from workshop.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_class_names_from_a_count_or_a_list():
    assert class_names("3") == ["s01", "s02", "s03"]
    assert class_names("alice, bob") == ["alice", "bob"]
    for bad in ("0", "alice,alice", "Alice", "al_ice", "9lives", ""):
        with pytest.raises(ConfigError):
            class_names(bad)


def test_roster_keeps_each_learner_in_a_0600_file(tmp_path):
    roster = Roster(tmp_path)
    alice = roster.ensure("alice")
    assert roster.ensure("alice") == alice  # stable: passwords are not regenerated
    assert roster.names() == ["alice"]
    path = tmp_path / "learners" / "alice.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len({alice.postgres, alice.rabbitmq, alice.redis, alice.hub, alice.signaling}) == 5
    roster.remove("alice")
    assert roster.get("alice") is None


def test_env_gives_the_learner_its_own_logins_and_nothing_of_the_instructor(tmp_path):
    admin = settings(env={"WORKSHOP_NAMESPACE": "ws_admin", "TURN_SECRET": "t"}, dotenv=tmp_path / "none")
    alice = Learner.new("alice")
    env = alice.env(admin)
    assert env["WORKSHOP_NAMESPACE"] == "ws_alice"
    assert env["DATABASE_URL"] == f"postgresql://ws_alice:{alice.postgres}@127.0.0.1:5432/ws_alice"  # her own database
    assert env["AMQP_URL"] == f"amqp://ws_alice:{alice.rabbitmq}@127.0.0.1:5672/ws_alice"
    assert env["REDIS_URL"] == f"redis://ws_alice:{alice.redis}@127.0.0.1:6379/0"
    assert "guest" not in env["RABBITMQ_MANAGEMENT_URL"]
    # room tokens of chapter 5 are signed with a secret of hers alone, not the class's TURN_SECRET
    assert env["SIGNALING_SECRET"] == alice.signaling and env["SIGNALING_SECRET"] != env["TURN_SECRET"]
    assert Learner.new("bob").env(admin)["SIGNALING_SECRET"] != env["SIGNALING_SECRET"]
    learner_settings = settings(env=env)  # the package reads it as it is
    assert learner_settings.namespace.name == "ws_alice"


def test_a_roster_from_before_a_secret_existed_gets_it_and_keeps_the_others(tmp_path):
    import json

    (tmp_path / "learners").mkdir(mode=0o700)
    old = {"name": "carol", "postgres": "p", "rabbitmq": "r", "redis": "s"}
    (tmp_path / "learners" / "carol.json").write_text(json.dumps(old))
    carol = Roster(tmp_path).get("carol")
    assert (carol.postgres, carol.rabbitmq, carol.redis) == ("p", "r", "s") and carol.hub and carol.signaling
    assert Roster(tmp_path).get("carol") == carol  # saved: the hub password does not change at each read


def test_with_login_replaces_user_password_and_path():
    assert with_login("amqp://guest:guest@[::1]:5672/", "u", "p", "/v") == "amqp://u:p@[::1]:5672/v"


def test_redis_rules_confine_keys_and_channels_and_drop_dangerous_commands():
    rules = redis_acl.rules(Learner.new("alice"))
    assert [r for r in rules if r[0] in "~&"] == [
        "~ws_alice:*",
        "~ws_alice_*",
        "&ws_alice:*",
        "&ws_alice_*",
        "&ws_alice_ch02:*_events",
        "&ws_alice_ex02:*_events",
        "&ws_alice_chk21:*_events",
    ]
    assert "-@dangerous" in rules and rules.index("-@dangerous") > rules.index("+@all")
    assert "-@scripting" in rules and rules.index("-@scripting") > rules.index("+@all")  # no EVAL: no BUSY server


def test_every_psubscribe_pattern_of_the_chapters_is_granted_literally():
    """Redis matches PSUBSCRIBE patterns literally against the ACL: a new pattern in a notebook must be granted."""
    granted = {(child, p) for child, patterns in redis_acl.PSUBSCRIBE.items() for p in patterns}
    for path in [*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("solutions/*.ipynb")]:
        code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        children = re.findall(r'namespace\.child\("(\w+)"\)', code)
        for patterns in re.findall(r"patterns=\[([^\]]*)\]", code):
            for pattern in re.findall(r'"([^"]+)"', patterns):  # the literal patterns (not "...")
                assert any((child, pattern) in granted for child in children), f"{path.name}: {pattern!r}"
