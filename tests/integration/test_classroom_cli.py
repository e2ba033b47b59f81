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

from workshop.classroom import postgres, provision
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
        # every door of docs/classroom.md, the Unix socket's 'local' lines included
        assert "open door: PostgreSQL lets anyone log in as 'postgres' (a superuser or role admin) over TCP" in out.out
        assert "over the Unix socket in /var/run/postgresql without a password ('trust' on a 'local' line" in out.out
        assert "open door: Redis has no maxmemory" in out.out
        assert "learners could step around their accounts" in out.err

        assert main(["classroom", "up", "--learners", name, "--port", "0", "--accept-open-services"]) == 0
        out = capsys.readouterr().out
        assert "JupyterHub is up at http://127.0.0.1:" in out and "first passwords to hand out" in out
        passwords = (tmp_path / "hub-passwords.txt").read_text()
        assert f"{name} {Roster(tmp_path).get(name).hub}" in passwords and "instructor " in passwords
        assert oct((tmp_path / "hub-passwords.txt").stat().st_mode & 0o777) == "0o600"
        assert main(["classroom", "status"]) == 0
        out = capsys.readouterr().out
        assert "DB MiB" in out and f"{name}" in out  # the size watch's column

        learner = Roster(tmp_path).get(name)
        with psycopg.connect(learner.env(settings())["DATABASE_URL"], autocommit=True, connect_timeout=5) as db:
            db.execute("CREATE TABLE work (x int)")
        # the size watch: past the limit (0 MiB here), status tells the instructor and the learner is frozen
        caps = postgres.CAPS
        monkeypatch.setattr(postgres, "CAPS", postgres.Caps(size_limit_mib=0))
        assert main(["classroom", "status"]) == 0
        assert f"{name}: PostgreSQL database" in (out := capsys.readouterr().out) and "frozen (cannot log in" in out
        with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
            psycopg.connect(learner.env(settings())["DATABASE_URL"], connect_timeout=5)
        monkeypatch.setattr(postgres, "CAPS", caps)
        assert main(["classroom", "reset", name]) == 0
        assert f"{name}: 1 schemas" in capsys.readouterr().out  # her database dropped and made again
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
