"""docker/compose.yml, checked without a Docker engine.

`docker-compose config` validates and resolves the file (Debian's docker-compose;
CI installs it). Then the resolved YAML is checked against what the rest of the
workshop assumes: healthchecks, start order, loopback-only ports, the variables and
ports `workshop.config` uses, the native software versions, and no secrets in the file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from workshop.config import settings

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yml"

BACKING = ("redis", "rabbitmq", "postgres", "coturn")  # the services the chapters talk to
SECRETS = {  # distinctive values, so that we can see exactly where each one ends up
    "TURN_SECRET": "turn-sentinel-5e1",
    "SIGNALING_SECRET": "signaling-sentinel-8d6",
    "POSTGRES_PASSWORD": "pg-sentinel-7a2",
    "RABBITMQ_PASSWORD": "rabbit-sentinel-3c9",
    "JUPYTER_TOKEN": "jupyter-sentinel-0b4",
}
NOT_FOR_WORKSHOP_CONFIG = {"JUPYTER_TOKEN"}  # read by Jupyter Server, not by workshop.config
CONFIG_URL_VARS = (
    "REDIS_URL",
    "AMQP_URL",
    "RABBITMQ_MANAGEMENT_URL",
    "DATABASE_URL",
    "TURN_URL",
    "TURN_SECRET",
    "SIGNALING_SECRET",
    "SIGNALING_URL",
)


# --- running docker-compose -----------------------------------------------------------------


def compose_command() -> list[str]:
    """``docker-compose`` (Debian's v1), else the ``docker compose`` v2 plugin; fail if neither."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode == 0
    ):
        return ["docker", "compose"]
    pytest.fail(
        "docker-compose is not installed, so docker/compose.yml cannot be validated: apt-get install docker-compose",
        pytrace=False,
    )


def run_config(tmp_path: Path, values: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``docker-compose --env-file <tmp>/.env -f docker/compose.yml config``, as the README says."""
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    clean_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    return subprocess.run(
        [*compose_command(), "--env-file", str(env_file), "-f", "docker/compose.yml", "config"],
        cwd=ROOT,
        env=clean_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def resolved(tmp_path_factory) -> dict[str, Any]:
    """The compose file as Compose resolves it (variables substituted, paths absolute)."""
    result = run_config(tmp_path_factory.mktemp("compose"), SECRETS)
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    return yaml.safe_load(result.stdout)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    """The compose file as written."""
    return yaml.safe_load(COMPOSE.read_text())


def services(config: dict[str, Any]) -> dict[str, Any]:
    return config["services"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a dict (Compose accepts a list of KEY=value too)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def published_ports(service: dict[str, Any]) -> list[tuple[str, str, int, str]]:
    """``(host_ip, published, container port, protocol)`` for every published port (ranges expanded)."""
    found = []
    for port in service.get("ports", []):
        if isinstance(port, dict):  # Compose v2's long syntax
            found.append(
                (
                    port.get("host_ip", ""),
                    str(port.get("published", "")),
                    int(port["target"]),
                    port.get("protocol", "tcp"),
                )
            )
            continue
        m = re.fullmatch(
            r"(?:(?P<ip>[\d.]+|\[[0-9a-f:]+\]):)?(?:(?P<pub>[\d-]*):)?(?P<target>[\d-]+)(?:/(?P<proto>\w+))?", str(port)
        )
        assert m, f"unrecognised port syntax {port!r}"
        first, _, last = m["target"].partition("-")
        for target in range(int(first), int(last or first) + 1):
            found.append((m["ip"] or "", m["pub"] or "", target, m["proto"] or "tcp"))
    return found


def container_ports(service: dict[str, Any]) -> set[int]:
    """Ports a service listens on inside the network: published targets plus ``expose``."""
    return {p[2] for p in published_ports(service)} | {int(str(e).split("/")[0]) for e in service.get("expose", [])}


# --- the file is valid, and fails clearly without its secrets -------------------------------


def test_compose_config_is_valid(resolved):
    assert set(BACKING) | {"signaling", "lab"} <= set(services(resolved))
    assert "version" not in yaml.safe_load(COMPOSE.read_text()), "the Compose spec has no `version:` key"


def test_missing_secret_stops_compose_with_a_clear_message(tmp_path):
    for missing in ("TURN_SECRET", "SIGNALING_SECRET", "POSTGRES_PASSWORD"):
        result = run_config(tmp_path, {k: v for k, v in SECRETS.items() if k != missing})
        assert result.returncode != 0, f"compose accepted a missing {missing}"
        assert missing in result.stderr and "workshop env" in result.stderr, result.stderr


# --- health and start order -----------------------------------------------------------------


@pytest.mark.parametrize("name", [*BACKING, "signaling"])
def test_every_service_has_a_healthcheck(resolved, name):
    check = services(resolved)[name].get("healthcheck") or {}
    assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"
    assert check.get("timeout") and check.get("retries"), f"{name}'s healthcheck needs a timeout and retries"


def test_lab_waits_for_healthy_services(resolved):
    depends = services(resolved)["lab"].get("depends_on") or {}
    assert isinstance(depends, dict), "lab's depends_on must use the long form with `condition:`"
    for name in [*BACKING, "signaling"]:
        assert depends.get(name, {}).get("condition") == "service_healthy", f"lab must wait for {name} to be healthy"


# --- ports ----------------------------------------------------------------------------------


def test_every_published_port_binds_loopback(resolved):
    for name, service in services(resolved).items():
        for host_ip, _published, target, proto in published_ports(service):
            assert host_ip == "127.0.0.1", f"{name} publishes {target}/{proto} on {host_ip or 'all interfaces'}"


def test_coturn_relay_range_matches_its_config(resolved):
    conf = dict(
        line.split("=", 1)
        for line in (DOCKER / "coturn" / "turnserver.conf").read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    )
    udp = {target for _, _, target, proto in published_ports(services(resolved)["coturn"]) if proto == "udp"}
    relay = set(range(int(conf["min-port"]), int(conf["max-port"]) + 1))
    assert relay <= udp, f"relay ports {sorted(relay - udp)} are not published"
    assert int(conf["listening-port"]) in udp


# --- the lab's variables are workshop.config's, pointed at the compose services -------------


def lab_settings(resolved, tmp_path):
    return settings(env=environment(services(resolved)["lab"]), dotenv=tmp_path / "no.env")


def test_lab_sets_every_variable_workshop_config_reads(resolved):
    lab_env = environment(services(resolved)["lab"])
    missing = [var for var in CONFIG_URL_VARS if not lab_env.get(var)]
    assert not missing, f"the lab would fall back to 127.0.0.1 defaults for {missing}"


def test_every_lab_variable_is_read_by_workshop_config(resolved, tmp_path):
    baseline = settings(env={}, dotenv=tmp_path / "no.env")
    for var, value in environment(services(resolved)["lab"]).items():
        if var in NOT_FOR_WORKSHOP_CONFIG:
            continue
        probe = settings(env={var: value or "ws_probe"}, dotenv=tmp_path / "no.env")
        assert probe != baseline, f"the lab sets {var}, but workshop.config does not read it"


def test_lab_urls_point_at_the_services(resolved, tmp_path):
    svc = services(resolved)
    s = lab_settings(resolved, tmp_path)

    def host_port(url: str) -> tuple[str, int]:
        parts = urlsplit(url)
        return parts.hostname, parts.port

    expected = {  # setting -> (service, port inside the compose network)
        "redis_url": ("redis", 6379),
        "amqp_url": ("rabbitmq", 5672),
        "rabbitmq_management_url": ("rabbitmq", 15672),
        "database_url": ("postgres", 5432),
        "signaling_url": ("signaling", 3000),
    }
    for field, (service, port) in expected.items():
        assert host_port(getattr(s, field)) == (service, port), f"{field} = {getattr(s, field)}"
        assert port in container_ports(svc[service]), f"{service} does not expose {port}"
    assert s.turn_host_port == ("coturn", 3478)
    assert 3478 in container_ports(svc["coturn"])
    assert "--port" in svc["signaling"]["command"] and "3000" in svc["signaling"]["command"]


def test_lab_credentials_match_the_services(resolved, tmp_path):
    svc = services(resolved)
    s = lab_settings(resolved, tmp_path)
    pg, rabbit = environment(svc["postgres"]), environment(svc["rabbitmq"])
    db = urlsplit(s.database_url)
    assert (db.username, db.password, db.path.lstrip("/")) == (
        pg["POSTGRES_USER"],
        pg["POSTGRES_PASSWORD"],
        pg["POSTGRES_DB"],
    )
    assert db.password == SECRETS["POSTGRES_PASSWORD"]
    for url in (s.amqp_url, s.rabbitmq_management_url):
        parts = urlsplit(url)
        assert (parts.username, parts.password) == (rabbit["RABBITMQ_DEFAULT_USER"], rabbit["RABBITMQ_DEFAULT_PASS"])
    assert rabbit["RABBITMQ_DEFAULT_PASS"] == SECRETS["RABBITMQ_PASSWORD"]
    coturn_args = svc["coturn"]["command"]
    assert f"--static-auth-secret={SECRETS['TURN_SECRET']}" in coturn_args
    assert s.turn_secret == SECRETS["TURN_SECRET"]
    assert s.signaling_secret == SECRETS["SIGNALING_SECRET"]  # the lab signs room tokens for the signaling server
    signaling = environment(svc["signaling"])
    assert (signaling["SIGNALING_SECRET"], signaling["TURN_SECRET"]) == (
        SECRETS["SIGNALING_SECRET"],
        SECRETS["TURN_SECRET"],
    )
    assert environment(svc["lab"])["JUPYTER_TOKEN"] == SECRETS["JUPYTER_TOKEN"]


def test_paths_resolve_inside_the_repository(resolved):
    svc = services(resolved)
    for name in ("lab", "signaling"):
        build = svc[name]["build"]
        assert Path(build["context"]) == ROOT, f"{name} must build from the repository root"
        assert (ROOT / build["dockerfile"]).is_file()
    mounts = {}
    for volume in svc["lab"].get("volumes", []) + svc["coturn"].get("volumes", []):
        source, target = (volume["source"], volume["target"]) if isinstance(volume, dict) else volume.split(":")[:2]
        mounts[target] = Path(source)
    assert mounts["/home/jovyan/work/notebooks"] == ROOT / "notebooks"
    assert mounts["/home/jovyan/work/exercises"] == ROOT / "exercises"
    assert mounts["/etc/coturn/turnserver.conf"] == DOCKER / "coturn" / "turnserver.conf"
    assert mounts["/etc/coturn/turnserver.conf"].is_file()


# --- the images run the versions of the native path -----------------------------------------


def native_version(argv: list[str]) -> str | None:
    """The first dotted version number ``argv`` prints, or None when the program is not installed."""
    if not shutil.which(argv[0]):
        return None
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    m = re.search(r"(\d+\.\d+(?:\.\d+)?)", result.stdout + result.stderr)
    assert result.returncode == 0 and m, f"`{' '.join(argv)}` gave no version: {result.stdout}{result.stderr}"
    return m.group(1)


def image_version(image: str) -> str:
    m = re.search(r":(\d+(?:\.\d+)*)", image)
    assert m, f"image {image!r} is not pinned to a version"
    return m.group(1)


@pytest.mark.parametrize(
    "service, argv, parts",
    [
        ("redis", ["redis-server", "--version"], 2),  # Redis 7.0
        ("rabbitmq", ["rabbitmqctl", "version"], 2),  # RabbitMQ 3.10
        ("coturn", ["turnserver", "--version"], 2),  # coturn 4.6
        ("postgres", ["psql", "--version"], 1),  # PostgreSQL 15 (since 10, the major is one number)
    ],
)
def test_image_matches_native_version(raw, service, argv, parts):
    image = services(raw)[service]["image"]
    pinned = image_version(image)
    native = native_version(argv)
    if native is None:
        pytest.skip(f"{argv[0]} is not installed: nothing to compare {image} with")
    assert pinned.split(".")[:parts] == native.split(".")[:parts], (
        f"{service}: image {image} but the native path runs {native}"
    )


def dockerfiles(resolved) -> dict[str, Path]:
    """``image -> Dockerfile`` for every image the compose file builds."""
    found = {}
    for service in services(resolved).values():
        if service.get("build"):
            build = service["build"]
            found[service["image"]] = Path(build["context"]) / build.get("dockerfile", "Dockerfile")
    return found


def test_every_image_is_built_from_debian_slim_and_runs_unprivileged(resolved):
    """Docker Hub's debian:bookworm-slim and Debian 12's packages: the native path's versions."""
    built = dockerfiles(resolved)
    used = {service["image"] for service in services(resolved).values()}
    assert used == set(built), f"images pulled instead of built here: {sorted(used - set(built))}"
    for dockerfile in built.values():
        text = dockerfile.read_text()
        assert re.findall(r"^FROM (\S+)", text, re.M) == ["debian:bookworm-slim"], f"{dockerfile}: FROM"
        users = re.findall(r"^USER (\S+)", text, re.M)
        assert users and users[-1] not in ("root", "0"), f"{dockerfile}: the last USER must not be root"
        for install in re.findall(r"apt-get install[^\n]*", text):
            assert "--no-install-recommends" in install, f"{dockerfile}: {install}"
        if "apt-get update" in text:
            assert "rm -rf /var/lib/apt/lists/*" in text, f"{dockerfile}: apt's lists stay in the image"


def test_lab_image_runs_the_native_python_with_the_locked_versions():
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert f"sys.version_info[:2] == ({sys.version_info.major}, {sys.version_info.minor})" in dockerfile
    assert "pip install -c /tmp/workshop/constraints.txt" in dockerfile, "the lab image must install the lock"
    assert "COPY constraints.txt" in dockerfile


# --- no secrets in the repository -----------------------------------------------------------

SECRET_KEY = re.compile(r"PASS|SECRET|TOKEN", re.I)
REFERENCE = re.compile(r"\$\{[A-Z_][A-Z0-9_]*(?::?[?-][^}]*)?\}")


def strings(node: Any):
    """Every string in a parsed YAML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)
    elif isinstance(node, str):
        yield node


def test_compose_file_holds_no_secret_values(raw):
    for name, service in services(raw).items():
        for key, value in environment(service).items():
            if SECRET_KEY.search(key):
                assert REFERENCE.fullmatch(value), f"{name}: {key} must come from .env as ${{VAR}}, not {value!r}"
    for text in strings(raw):
        for password in re.findall(r"://[^:/@\s]+:(\$\{[^}]*\}|[^@\s/]+)@", text):
            assert REFERENCE.fullmatch(password), f"a password is written into {text!r}"
        for secret in re.findall(r"--static-auth-secret=(.*)", text):
            assert REFERENCE.fullmatch(secret), "coturn's secret must come from .env"
    for value in SECRETS.values():
        assert value not in COMPOSE.read_text()


def test_coturn_config_holds_no_secret():
    conf = (DOCKER / "coturn" / "turnserver.conf").read_text()
    settings_lines = [line.strip() for line in conf.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert "use-auth-secret" in settings_lines, "coturn must use time-limited (REST API) credentials"
    leaked = [line for line in settings_lines if line.startswith(("static-auth-secret", "user=", "lt-cred-mech"))]
    assert not leaked, f"secrets or fixed users in turnserver.conf: {leaked}"


def test_docker_build_context_excludes_secrets_and_environments():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".env", ".venv", ".git", "node_modules"} <= ignored


# --- chapter 1: the order system as compose services ------------------------------------


@pytest.mark.parametrize("name", ["order", "payment", "inventory", "shipping", "notification"])
def test_order_services_run_the_package_module_and_consumers_can_scale(resolved, name):
    import importlib.util

    svc = services(resolved)[name]
    at = svc["command"].index("-m")
    assert svc["command"][at + 1 : at + 3] == ["workshop.run.orders", name], svc["command"]
    assert importlib.util.find_spec("workshop.run.orders")
    assert {"rabbitmq", "postgres"} <= set(svc["depends_on"])
    assert "container_name" not in svc, "a fixed container name prevents --scale"
    if name != "order":
        assert not svc.get("ports"), f"{name} publishes a port, so `--scale {name}=3` would clash"
