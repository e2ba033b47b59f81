"""TURN REST API credentials (workshop.infra.turn)."""

from __future__ import annotations

import base64

import pytest

from workshop.config import settings
from workshop.errors import ConfigError
from workshop.infra.turn import ice_servers, turn_credentials

# Computed independently with OpenSSL:
#   printf %s "1700003600:learner" | openssl dgst -binary -sha1 -hmac "s3cret" | base64
KNOWN = {
    "secret": "s3cret",
    "now": 1_700_000_000,
    "ttl": 3600,
    "username": "1700003600:learner",
    "credential": "3lxcWqS5zA45T1ztwVT5bMA8ifk=",
}


def test_known_vector():
    creds = turn_credentials(KNOWN["secret"], user="learner", ttl=KNOWN["ttl"], now=KNOWN["now"])
    assert creds["username"] == KNOWN["username"]
    assert creds["credential"] == KNOWN["credential"]
    assert creds["ttl"] == 3600


def test_credential_depends_on_secret_user_and_expiry():
    base = turn_credentials("s3cret", user="learner", now=KNOWN["now"])
    assert turn_credentials("other", user="learner", now=KNOWN["now"])["credential"] != base["credential"]
    assert turn_credentials("s3cret", user="bob", now=KNOWN["now"])["credential"] != base["credential"]
    assert turn_credentials("s3cret", user="learner", now=KNOWN["now"] + 1)["username"] == "1700003601:learner"
    assert len(base64.b64decode(base["credential"])) == 20  # an HMAC-SHA1 digest


def test_default_now_is_the_current_time():
    import time

    expiry = int(turn_credentials("s3cret", ttl=60)["username"].split(":")[0])
    assert abs(expiry - (time.time() + 60)) < 5


@pytest.mark.parametrize("secret", ["", "change-me", "  change-me "])
def test_missing_or_placeholder_secret_says_run_workshop_env(secret):
    with pytest.raises(ConfigError, match="workshop env"):
        turn_credentials(secret)


def test_bad_user_or_ttl():
    with pytest.raises(ConfigError, match="':'"):
        turn_credentials("s3cret", user="a:b")
    with pytest.raises(ConfigError, match="ttl"):
        turn_credentials("s3cret", ttl=0)


def test_ice_servers_lists_stun_and_turn_with_credentials():
    s = settings(env={"TURN_URL": "turn:127.0.0.1:3478", "TURN_SECRET": "s3cret"}, dotenv="/nonexistent")
    stun, turn = ice_servers(s, user="alice", ttl=600)
    assert stun == {"urls": ["stun:127.0.0.1:3478"]}
    assert turn["urls"] == ["turn:127.0.0.1:3478"]
    assert turn["username"].endswith(":alice")
    assert set(turn) == {"urls", "username", "credential"}  # exactly RTCIceServer's fields


def test_ice_servers_without_secret_is_a_clear_error():
    s = settings(env={"TURN_SECRET": "change-me"}, dotenv="/nonexistent")
    with pytest.raises(ConfigError, match="TURN_SECRET"):
        ice_servers(s)


def test_ice_servers_work_with_aiortc():
    import aiortc  # a dependency of the package: missing, this fails rather than skips

    s = settings(env={"TURN_SECRET": "s3cret"}, dotenv="/nonexistent")
    servers = [aiortc.RTCIceServer(**server) for server in ice_servers(s)]
    assert servers[1].username and servers[1].credential
