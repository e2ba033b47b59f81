"""Chapter 2's compose services: the course's publisher and two subscribers, under the profile `pubsub`."""

from __future__ import annotations

import importlib.util

import pytest
import yaml

from tests.unit.test_compose import COMPOSE, SECRETS, environment, run_config, services


@pytest.fixture(scope="module")
def resolved(tmp_path_factory):
    result = run_config(tmp_path_factory.mktemp("compose"), SECRETS)
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    return yaml.safe_load(result.stdout)


@pytest.mark.parametrize(
    "name, what", [("publisher", "publisher"), ("subscriber-1", "subscriber"), ("subscriber-2", "subscriber")]
)
def test_pubsub_services_run_the_package_modules_against_the_redis_service(resolved, name, what):
    svc = services(resolved)[name]
    at = svc["command"].index("-m")
    assert svc["command"][at + 1 : at + 3] == ["workshop.run.pubsub", what]
    assert importlib.util.find_spec("workshop.run.pubsub")
    assert environment(svc)["REDIS_URL"] == "redis://redis:6379/0"
    assert environment(svc)["WORKSHOP_NAMESPACE"] == "ws_pubsub"  # all three share one namespace
    assert "redis" in svc["depends_on"] and not svc.get("ports")


def test_pubsub_services_start_only_with_their_profile():
    raw = yaml.safe_load(COMPOSE.read_text())["services"]
    assert all(raw[name]["profiles"] == ["pubsub"] for name in ("publisher", "subscriber-1", "subscriber-2"))
    names = {svc["command"][-1] for name, svc in raw.items() if name.startswith("subscriber-")}
    assert names == {"subscriber-1", "subscriber-2"}
