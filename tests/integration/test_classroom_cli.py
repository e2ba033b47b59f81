"""`workshop classroom up/status/reset/remove/down` as an instructor types them, and the
Kubernetes pre-spawn hook on the real services. Everything created is removed at the end."""

from __future__ import annotations

import asyncio
import os
import pwd
import uuid
from types import SimpleNamespace

import psycopg
import pytest

from workshop.classroom import provision
from workshop.classroom.hooks import provision_on_spawn
from workshop.classroom.learners import Roster
from workshop.classroom.spawner import remove_system_user
from workshop.cli import main
from workshop.config import settings

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the classroom creates Unix accounts: run as root")


@pytest.mark.timeout(300)
def test_up_status_reset_remove_down(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORKSHOP_CLASSROOM_DIR", str(tmp_path))
    name = f"tu{uuid.uuid4().hex[:6]}"
    try:
        # this machine's services have open administrator doors: up refuses, naming them
        assert main(["classroom", "up", "--learners", name, "--port", "0"]) == 1
        out = capsys.readouterr()
        assert "open door: PostgreSQL accepts 'postgres' without a password" in out.out
        assert "learners could step around their accounts" in out.err

        assert main(["classroom", "up", "--learners", name, "--port", "0", "--accept-open-services"]) == 0
        assert "JupyterHub is up at http://127.0.0.1:" in capsys.readouterr().out
        assert main(["classroom", "status"]) == 0
        assert f"{name}" in capsys.readouterr().out

        learner = Roster(tmp_path).get(name)
        with psycopg.connect(learner.env(settings())["DATABASE_URL"], autocommit=True, connect_timeout=5) as db:
            db.execute("CREATE TABLE work (x int)")
        assert main(["classroom", "reset", name]) == 0
        assert f"{name}: 1 schemas" in capsys.readouterr().out
        with psycopg.connect(learner.env(settings())["DATABASE_URL"], autocommit=True, connect_timeout=5) as db:
            assert db.execute("SELECT to_regclass('work')").fetchone() == (None,)  # emptied, login kept

        assert main(["classroom", "remove", name]) == 0
        assert Roster(tmp_path).get(name) is None
    finally:
        assert main(["classroom", "down"]) == 0
        assert "PostgreSQL, RabbitMQ, Redis left running" in capsys.readouterr().out
        learner = Roster(tmp_path).get(name)
        if learner:
            provision.remove(settings(), learner)
        remove_system_user(name)
    with pytest.raises(KeyError):
        pwd.getpwnam(name)


def test_kubernetes_pre_spawn_hook_provisions_and_sets_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKSHOP_CLASSROOM_DIR", str(tmp_path))
    name = f"tk{uuid.uuid4().hex[:6]}"
    spawner = SimpleNamespace(user=SimpleNamespace(name=name), environment={"KEEP": "1"})
    try:
        asyncio.run(provision_on_spawn(spawner))
        assert spawner.environment["KEEP"] == "1"
        assert spawner.environment["WORKSHOP_NAMESPACE"] == f"ws_{name}"
        with psycopg.connect(spawner.environment["DATABASE_URL"], autocommit=True, connect_timeout=5) as db:
            assert db.execute("SELECT current_user, current_schema()").fetchone() == (f"ws_{name}", f"ws_{name}")
    finally:
        learner = Roster(tmp_path).get(name)
        if learner:
            provision.remove(settings(), learner)
