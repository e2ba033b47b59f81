"""The hub's configuration file and the Kubernetes values file, checked without running them."""

from __future__ import annotations

import inspect
import json
import runpy
from pathlib import Path

import pytest
import yaml
from traitlets.config import Config

from workshop.classroom import hooks
from workshop.classroom.hub import CONFIG_FILE

ROOT = Path(__file__).resolve().parents[2]
VALUES = ROOT / "docker" / "jupyterhub" / "values.yaml"
# the Zero to JupyterHub chart's top-level sections (values.schema.json of chart 3.x/4.x)
Z2JH_TOP = {
    "fullnameOverride",
    "nameOverride",
    "enabled",
    "imagePullSecrets",
    "imagePullSecret",
    "custom",
    "hub",
    "proxy",
    "singleuser",
    "scheduling",
    "prePuller",
    "ingress",
    "cull",
    "debug",
    "rbac",
    "global",
    "cycleSecret",
}


@pytest.fixture
def hub_config(tmp_path, monkeypatch):
    conf = {
        "ip": "127.0.0.1",
        "port": 8000,
        "hub_port": 8081,
        "proxy_api_port": 8001,
        "proxy": "/x/chp",
        "python": "/usr/bin/python3",
        "learners": ["bob", "alice"],
        "authenticator": "native",
        "mem_limit": "3G",
        "cpu_limit": 1.0,
        "idle_timeout": 1200,
        "repo": str(ROOT),
    }
    (tmp_path / "classroom.json").write_text(json.dumps(conf))
    for name in ("cookie_secret", "proxy_token", "api_token"):
        (tmp_path / name).write_text("s3cret")
    monkeypatch.setenv("WORKSHOP_CLASSROOM_DIR", str(tmp_path))
    c = Config()
    runpy.run_path(str(CONFIG_FILE), init_globals={"get_config": lambda: c})
    return c


def test_hub_config_uses_issued_accounts_the_class_list_and_loopback(hub_config):
    c = hub_config
    assert c.JupyterHub.authenticator_class == "workshop.classroom.auth.ClassroomAuthenticator"
    assert c.Authenticator.allowed_users == {"alice", "bob"}
    assert c.JupyterHub.bind_url == "http://127.0.0.1:8000" and c.JupyterHub.hub_ip == "127.0.0.1"
    assert c.JupyterHub.cleanup_servers is False  # a hub restart keeps the learners' servers
    from types import SimpleNamespace

    land = c.JupyterHub.default_url
    assert land(SimpleNamespace(current_user=SimpleNamespace(admin=True))) == "/hub/admin"  # the instructor
    assert land(SimpleNamespace(current_user=SimpleNamespace(admin=False))) == ""  # a learner: her own server


def test_hub_config_spawns_learners_with_limits_and_culls_idle_servers(hub_config):
    c = hub_config
    assert c.JupyterHub.spawner_class == "workshop.classroom.spawner.ClassroomSpawner"
    assert c.Spawner.mem_limit == "3G"
    assert c.ClassroomSpawner.nproc_limit == 512
    watch = next(s for s in c.JupyterHub.services if s["name"] == "size-watch")
    assert watch["command"][1:3] == ["-m", "workshop.classroom.watch"]
    culler = next(s for s in c.JupyterHub.services if s["name"] == "idle-culler")
    assert "--timeout=1200" in culler["command"]
    roles = {r["name"]: set(r["scopes"]) for r in c.JupyterHub.load_roles}
    assert "delete:servers" in roles["idle-culler"] and "admin:users" not in roles["idle-culler"]


def test_the_authenticator_has_no_sign_up_and_no_login_handler_of_its_own():
    """NativeAuthenticator 1.3.0's login handler answers 500 with JupyterHub 6 (self.statsd): JupyterHub's own
    login page is used; sign-up is gone, so nobody claims a classmate's name (tests/integration/test_classroom_login.py)."""
    from workshop.classroom.auth import ClassroomAuthenticator

    routes = [route for route, _ in ClassroomAuthenticator.get_handlers(None, None)]
    assert "/login" not in routes and "/signup" not in routes
    assert "/change-password" in routes and "/authorize" in routes
    assert ClassroomAuthenticator.enable_signup.default_value is False
    assert ClassroomAuthenticator.create_user(None, "carol", "chosen-by-alice") is None


def test_helm_values_are_valid_yaml_in_the_chart_layout():
    values = yaml.safe_load(VALUES.read_text())
    assert set(values) <= Z2JH_TOP, set(values) - Z2JH_TOP
    assert values["cull"]["enabled"] is True
    assert (
        values["hub"]["config"]["JupyterHub"]["authenticator_class"] == "workshop.classroom.auth.ClassroomAuthenticator"
    )
    assert "open_signup" not in values["hub"]["config"]["NativeAuthenticator"]
    assert values["singleuser"]["memory"]["limit"] and values["singleuser"]["cpu"]["limit"]
    for name, env in values["hub"]["extraEnv"].items():
        assert isinstance(env, str) or env["valueFrom"]["secretKeyRef"]["name"] == "workshop-admin", name


def test_helm_values_extra_config_compiles_and_points_at_the_provisioning_hook():
    values = yaml.safe_load(VALUES.read_text())
    for name, source in values["hub"]["extraConfig"].items():
        compile(source, name, "exec")
        assert "workshop.classroom.hooks import provision_on_spawn" in source
    assert inspect.iscoroutinefunction(hooks.provision_on_spawn)


def test_cli_answers_bad_input_with_one_line(capsys):
    from workshop.cli import main

    assert main(["classroom", "reset", "Al_ice"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("workshop classroom: learner name 'Al_ice'") and "\n" not in err
    with pytest.raises(SystemExit):
        main(["classroom", "up"])  # --learners is required: argparse says so


def test_cli_passwords_issues_first_passwords_without_starting_anything(tmp_path, monkeypatch, capsys):
    from workshop.classroom.learners import Roster
    from workshop.cli import main

    monkeypatch.setenv("WORKSHOP_CLASSROOM_DIR", str(tmp_path))
    assert main(["classroom", "passwords", "--learners", "alice,bob"]) == 0
    assert "hub-passwords.txt" in capsys.readouterr().out
    lines = (tmp_path / "hub-passwords.txt").read_text().splitlines()
    assert lines[0].startswith("instructor ") and f"alice {Roster(tmp_path).get('alice').hub}" in lines


def test_cli_without_a_class_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    from workshop.cli import main

    monkeypatch.setenv("WORKSHOP_CLASSROOM_DIR", str(tmp_path))
    assert main(["classroom", "status"]) == 1
    err = capsys.readouterr().err
    assert "no class in" in err and len(err.strip().splitlines()) == 1, err
    assert main(["classroom", "down"]) == 0
    assert "nothing was running" in capsys.readouterr().out
