"""Attack 5 and the doors ``workshop classroom up`` checks, on a THROW-AWAY PostgreSQL cluster
(initdb in a temporary folder, a free port, its own socket folder; stopped and deleted at the
end, also on failure): the machine's shared server and its pg_hba.conf are never touched.

A learner is an unprivileged Unix user: with ``local all all trust`` (the Debian packaging of
many development machines), ``psql -U postgres`` over the Unix socket is a superuser.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

from workshop.classroom import postgres

BIN = Path("/usr/lib/postgresql/15/bin")
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not (BIN / "initdb").exists(),
    reason="needs root (to act as 'nobody') and PostgreSQL 15's initdb",
)

OPEN = "local all all trust\nhost all all 127.0.0.1/32 trust\n"
CLOSED = (
    "local all postgres peer\nlocal all all scram-sha-256\n"
    "host all all 127.0.0.1/32 scram-sha-256\nhost all all ::1/128 scram-sha-256\n"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(*cmd: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        list(cmd),
        user="postgres",
        group="postgres",
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd="/tmp",
        check=True,
    )


@pytest.fixture
def cluster(request):
    """``(admin_url, socket_dir, port)`` of a private cluster whose pg_hba.conf is ``request.param``."""
    root = Path(tempfile.mkdtemp(prefix="classroom-pg-"))
    data, sockets = root / "data", root / "sock"
    entry = pwd.getpwnam("postgres")
    for path in (root, sockets):
        path.mkdir(exist_ok=True)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    os.chmod(root, 0o755)
    os.chmod(sockets, 0o755)
    port, password = _free_port(), "adm1n-secret"
    (root / "pw").write_text(password)
    os.chown(root / "pw", entry.pw_uid, entry.pw_gid)
    try:
        _as_postgres(
            str(BIN / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--pwfile",
            str(root / "pw"),
            "-A",
            "scram-sha-256",
            "--no-sync",
        )
        (data / "pg_hba.conf").write_text(request.param)
        _as_postgres(
            str(BIN / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-t",
            "60",
            "-l",
            str(root / "log"),
            "-o",
            f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c max_connections=40 -c fsync=off",
            "start",
            timeout=90,
        )
        yield f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres", str(sockets), port
    finally:
        subprocess.run(
            [str(BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            check=False,
            user="postgres",
            capture_output=True,
            timeout=60,
            cwd="/tmp",
        )
        shutil.rmtree(root, ignore_errors=True)


def _psql_as_nobody(sockets: str, port: int, role: str) -> subprocess.CompletedProcess:
    """What a learner types: psql over the Unix socket, no password."""
    return subprocess.run(
        check=False,
        args=[
            "psql",
            "-X",
            "-w",
            "-At",
            "-h",
            sockets,
            "-p",
            str(port),
            "-U",
            role,
            "-d",
            "postgres",
            "-c",
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
        ],
        user="nobody",
        group="nogroup",
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=30,
        cwd="/",
        env={"PATH": os.environ["PATH"], "PGPASSWORD": ""},
    )


@pytest.mark.timeout(180)
@pytest.mark.parametrize("cluster", [OPEN], indirect=True)
def test_attack5_open_socket_makes_a_learner_superuser_and_up_names_it(cluster):
    admin, sockets, port = cluster
    attack = _psql_as_nobody(sockets, port, "postgres")
    assert attack.returncode == 0 and attack.stdout.strip() == "t"  # the door is really open here
    doors = postgres.open_doors(admin)
    assert any(f"over the Unix socket in {sockets}" in d and "'local' line" in d for d in doors), doors
    assert any("over TCP 127.0.0.1" in d for d in doors), doors
    assert any("every role may connect to postgres" in d for d in doors), doors


@pytest.mark.timeout(180)
@pytest.mark.parametrize("cluster", [CLOSED], indirect=True)
def test_attack5_closed_doors_refuse_the_learner_and_up_finds_none(cluster):
    admin, sockets, port = cluster
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as db:
        for name in ("postgres", "template1"):
            db.execute(f"REVOKE CONNECT ON DATABASE {name} FROM PUBLIC")
    attack = _psql_as_nobody(sockets, port, "postgres")
    assert attack.returncode != 0 and "authentication failed" in attack.stderr, attack.stderr
    assert postgres.open_doors(admin) == []


@pytest.mark.timeout(180)
@pytest.mark.parametrize("cluster", [CLOSED], indirect=True)
def test_connection_limits_must_add_up_below_max_connections(cluster):
    """40 max_connections, 3 reserved for superusers, 10 for the instructor: one learner of 20 fits, two do not."""
    from workshop.classroom.learners import Learner

    admin, _, _ = cluster
    postgres.prepare(admin)
    class_of = [Learner.new(f"s{i}") for i in range(3)]
    assert postgres.connection_budget(admin, class_of[:1]) == (20, 27)
    assert postgres.connection_budget(admin, class_of) == (60, 27)
