"""PostgreSQL for a class: one login role and one **database** per learner, and no guard.

Learner ``alice`` logs in as ``ws_alice`` to the database ``ws_alice`` (owned by
the instructor). There she may connect, create schemas and temporary tables —
``ws_alice`` (her ``search_path``) and the chapters' own ``ws_alice_ch03``… — and
nowhere else: ``CONNECT`` on every learner database is revoked from ``PUBLIC``,
so ``ws_bob`` cannot even open it. Names she picks (a schema called ``postgres``,
an operator ``=``) live in her database only and can never shadow anything of a
classmate's.

Why a database each and not schemas in one shared database: the chapters create
and drop their schemas (``CREATE SCHEMA IF NOT EXISTS``), which needs ``CREATE``
on the database — and in a shared database that right lets a learner create a
schema named after a classmate, so the old design needed an event trigger
(superuser code) to refuse it. Superuser code that resolves names a learner can
plant is a door (docs/classroom.md, attack 1). Here there is nothing to guard.

What the instructor's code still does inside a learner's database runs with
``search_path = pg_catalog, pg_temp`` (:func:`_connect`) and only
schema-qualified names; the one function it creates there lives in
``workshop_admin``, a schema owned by the instructor, created before the
learner can connect. That function refuses ``CREATE EXTENSION``: a trusted
extension's script runs as a superuser inside a schema the learner controls.

Caps (:data:`CAPS`): a connection limit per role (their sum stays below
``max_connections``: :func:`connection_budget`), ``temp_file_limit`` (only a
superuser may change it), a default ``statement_timeout`` and
``idle_in_transaction_session_timeout``, and a size watch (:func:`sizes`,
:func:`freeze`) that ``workshop classroom status`` runs.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from workshop.classroom.learners import Learner
from workshop.errors import WorkshopError

GROUP = "workshop_learners"  # every learner role is a member: how the budget finds them
ADMIN_SCHEMA = "workshop_admin"
SAFE_PATH = "-c search_path=pg_catalog,pg_temp"  # every instructor session resolves nothing a learner made
RESERVED = 10  # connections kept for the instructor, the hub and the tools, beyond superuser_reserved_connections


@dataclass(frozen=True)
class Caps:
    """What one learner may take from the shared PostgreSQL server."""

    connections: int = 20  # chapter 4 alone peaks at 11; other open notebooks keep their pools
    temp_file_limit: str = "256MB"  # SUSET: the learner cannot raise it
    statement_timeout: str = "120s"  # a default the learner can lower or raise in its own session
    idle_in_transaction: str = "10min"
    size_limit_mib: int = 1024  # the size watch freezes a database past this


CAPS = Caps()

_REFUSE_EXTENSIONS = f"""
CREATE SCHEMA IF NOT EXISTS {ADMIN_SCHEMA};
REVOKE ALL ON SCHEMA {ADMIN_SCHEMA} FROM PUBLIC;
CREATE OR REPLACE FUNCTION {ADMIN_SCHEMA}.refuse_extensions() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION 'extensions are not available in a learner''s database (docs/classroom.md)';
END $$;
DROP EVENT TRIGGER IF EXISTS workshop_refuse_extensions;
CREATE EVENT TRIGGER workshop_refuse_extensions ON ddl_command_start
    WHEN TAG IN ('CREATE EXTENSION', 'ALTER EXTENSION', 'CREATE LANGUAGE')
    EXECUTE FUNCTION {ADMIN_SCHEMA}.refuse_extensions();
"""


def _url(admin_url: str, database: str | None) -> str:
    return admin_url if database is None else urlunsplit(urlsplit(admin_url)._replace(path="/" + database))


def _one(conn: psycopg.Connection, query: str, params: tuple = ()) -> Any:
    """The first column of the one row ``query`` returns."""
    row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
    assert row is not None, query
    return row[0]


def _connect(admin_url: str, database: str | None = None) -> psycopg.Connection:
    """An instructor session whose ``search_path`` holds nothing a learner can create in."""
    return psycopg.connect(_url(admin_url, database), autocommit=True, connect_timeout=5, options=SAFE_PATH)


def prepare(admin_url: str) -> None:
    """The learners' group role (safe to repeat)."""
    with _connect(admin_url) as conn:
        if conn.execute("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s", (GROUP,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(GROUP)))


def connection_budget(admin_url: str, adding: list[Learner], caps: Caps = CAPS) -> tuple[int, int]:
    """``(needed, available)``: every learner role's connection limit (those being added included)
    against ``max_connections`` minus the superusers' reserve and :data:`RESERVED`."""
    with _connect(admin_url) as conn:
        existing = dict(
            conn.execute(
                "SELECT r.rolname, r.rolconnlimit FROM pg_catalog.pg_roles r JOIN pg_catalog.pg_auth_members m "
                "ON m.member OPERATOR(pg_catalog.=) r.oid JOIN pg_catalog.pg_roles g ON g.oid OPERATOR(pg_catalog.=) m.roleid "
                "WHERE g.rolname OPERATOR(pg_catalog.=) %s",
                (GROUP,),
            ).fetchall()
        )
        total = int(_one(conn, "SELECT pg_catalog.current_setting('max_connections')"))
        reserved = int(_one(conn, "SELECT pg_catalog.current_setting('superuser_reserved_connections')"))
    for learner in adding:
        existing[learner.account] = caps.connections
    unlimited = [name for name, limit in existing.items() if limit < 0]
    needed = sum(limit for limit in existing.values() if limit >= 0) + total * len(unlimited)
    return needed, total - reserved - RESERVED


def add(admin_url: str, learner: Learner, caps: Caps = CAPS) -> None:
    """The learner's login role (password and caps set again each time) and its own database."""
    role, db = sql.Identifier(learner.account), sql.Identifier(learner.database)
    with _connect(admin_url) as conn:
        exists = conn.execute("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s", (learner.account,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(
            sql.SQL(
                verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS "
                "CONNECTION LIMIT {} PASSWORD {}"
            ).format(role, sql.Literal(caps.connections), sql.Literal(learner.postgres))
        )
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(GROUP), role))
        for name, value in (
            ("search_path", learner.account),
            ("temp_file_limit", caps.temp_file_limit),
            ("statement_timeout", caps.statement_timeout),
            ("idle_in_transaction_session_timeout", caps.idle_in_transaction),
        ):
            conn.execute(sql.SQL("ALTER ROLE {} SET {} = {}").format(role, sql.Identifier(name), sql.Literal(value)))
        created = (
            conn.execute("SELECT 1 FROM pg_catalog.pg_database WHERE datname = %s", (learner.database,)).fetchone()
            is None
        )
        if created:  # the instructor owns it; template0 holds nothing anyone added
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(db))
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
    with _connect(admin_url, learner.database) as conn:
        admin_owned = conn.execute(
            "SELECT n.nspowner OPERATOR(pg_catalog.=) d.datdba FROM pg_catalog.pg_namespace n, pg_catalog.pg_database d "
            "WHERE n.nspname OPERATOR(pg_catalog.=) %s AND d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()",
            (ADMIN_SCHEMA,),
        ).fetchone()
        if admin_owned is not None and not admin_owned[0]:
            raise WorkshopError(
                f"{ADMIN_SCHEMA} in the database {learner.database} is not the instructor's: "
                f"workshop classroom reset {learner.name} makes the database again"
            )
        if created or admin_owned is None:  # before the learner can connect: nothing of theirs exists yet
            conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
            conn.execute(_REFUSE_EXTENSIONS)
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(role, role))
        conn.execute(sql.SQL("GRANT CONNECT, CREATE, TEMPORARY ON DATABASE {} TO {}").format(db, role))


def _terminate(conn: psycopg.Connection, learner: Learner) -> None:
    conn.execute(
        "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity "
        "WHERE usename OPERATOR(pg_catalog.=) %s",
        (learner.account,),
    )


def reset(admin_url: str, learner: Learner) -> int:
    """Drop the learner's database (its sessions ended first); returns how many schemas it had.
    :func:`add` creates it again, empty. No object of the learner's is ever called."""
    with _connect(admin_url) as conn:
        if (
            conn.execute("SELECT 1 FROM pg_catalog.pg_database WHERE datname = %s", (learner.database,)).fetchone()
            is None
        ):
            return 0
    with _connect(admin_url, learner.database) as conn:
        count = _one(
            conn,
            "SELECT pg_catalog.count(*) FROM pg_catalog.pg_namespace "
            "WHERE nspowner OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_roles "
            "WHERE rolname OPERATOR(pg_catalog.=) %s)",
            (learner.account,),
        )
    with _connect(admin_url) as conn:
        _terminate(conn, learner)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(learner.database)))
    return int(count)


def remove(admin_url: str, learner: Learner) -> None:
    """Drop the learner's database and role."""
    reset(admin_url, learner)
    with _connect(admin_url) as conn:
        if conn.execute("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s", (learner.account,)).fetchone():
            conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(learner.account)))
            _terminate(conn, learner)
            conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(learner.account)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(learner.account)))


def sizes(admin_url: str, learners: list[Learner]) -> dict[str, int]:
    """Bytes on disk of each learner's database (all its schemas, indexes and TOAST)."""
    with _connect(admin_url) as conn:
        rows = conn.execute(
            "SELECT datname, pg_catalog.pg_database_size(oid) FROM pg_catalog.pg_database "
            "WHERE datname OPERATOR(pg_catalog.=) ANY(%s)",
            ([learner.database for learner in learners],),
        ).fetchall()
    found: dict[str, int] = dict(rows)
    return {learner.name: int(found.get(learner.database, 0)) for learner in learners}


def frozen(admin_url: str, learner: Learner) -> bool:
    with _connect(admin_url) as conn:
        row = conn.execute(
            "SELECT rolcanlogin FROM pg_catalog.pg_roles WHERE rolname = %s", (learner.account,)
        ).fetchone()
    return row is not None and not row[0]


def freeze(admin_url: str, learner: Learner) -> None:
    """Past the size limit: the learner can no longer log in (its sessions end), its data stays for
    the instructor to look at; ``workshop classroom reset`` empties it and lets the learner in again."""
    with _connect(admin_url) as conn:
        conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(learner.account)))
        _terminate(conn, learner)


# --- the doors: can anyone on this machine log in as an administrator, or as a learner, without a password?


def _probe(host: str, port: int, role: str, database: str) -> bool:
    """True if ``role`` gets in with no password, tried the way a learner would: as an unprivileged
    Unix user (``nobody``), so ``peer`` authentication is judged for them, not for root."""
    import os

    cmd = ["psql", "-X", "-w", "-At", "-h", host, "-p", str(port), "-U", role, "-d", database, "-c", "SELECT 1"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PGCONNECT_TIMEOUT": "5", "PGPASSWORD": ""}
    as_root = os.geteuid() == 0
    try:
        done = subprocess.run(
            cmd,
            check=False,
            capture_output=True,
            text=True,
            timeout=15,
            env=env,
            cwd="/",
            user="nobody" if as_root else None,
            group="nogroup" if as_root else None,
            extra_groups=[] if as_root else None,
        )
    except FileNotFoundError:
        raise WorkshopError(
            "psql is needed to try the PostgreSQL doors as a learner would: apt-get install postgresql-client"
        ) from None
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0 and done.stdout.strip() == "1"


def open_doors(admin_url: str) -> list[str]:
    """Every way in without a password that a learner could use: TCP (``host`` lines) and the
    Unix socket (``local`` lines), for every superuser and a learner role."""
    parts = urlsplit(admin_url)
    port = parts.port or 5432
    with _connect(admin_url) as conn:
        privileged = [
            r[0]
            for r in conn.execute(
                "SELECT rolname FROM pg_catalog.pg_roles WHERE rolcanlogin AND (rolsuper OR rolcreaterole OR rolreplication) "
                "ORDER BY rolname"
            ).fetchall()
        ]
        sockets = [
            d.strip()
            for d in _one(conn, "SELECT pg_catalog.current_setting('unix_socket_directories')").split(",")
            if d.strip()
        ]
        learner = conn.execute(
            "SELECT r.rolname FROM pg_catalog.pg_roles r JOIN pg_catalog.pg_auth_members m ON m.member OPERATOR(pg_catalog.=) r.oid "
            "JOIN pg_catalog.pg_roles g ON g.oid OPERATOR(pg_catalog.=) m.roleid WHERE g.rolname OPERATOR(pg_catalog.=) %s "
            "AND r.rolcanlogin LIMIT 1",
            (GROUP,),
        ).fetchone()
        public_dbs = [
            r[0]
            for r in conn.execute(
                "SELECT datname FROM pg_catalog.pg_database WHERE datallowconn AND NOT datistemplate "
                "AND pg_catalog.has_database_privilege('public', oid, 'CONNECT') ORDER BY datname"
            ).fetchall()
        ]
    doors = []
    roles = privileged + ([learner[0]] if learner else [])
    places = [(parts.hostname or "127.0.0.1", f"TCP {parts.hostname or '127.0.0.1'}:{port}", "host")]
    places += [(d, f"the Unix socket in {d}", "local") for d in sockets if not d.startswith("@")]
    for host, where, line in places:
        for role in roles:
            if _probe(host, port, role, "postgres" if role in privileged else role):
                kind = "a superuser or role admin" if role in privileged else "a learner"
                doors.append(
                    f"PostgreSQL lets anyone log in as {role!r} ({kind}) over {where} without a password "
                    f"('trust' on a '{line}' line of pg_hba.conf). Fix: scram-sha-256 (or peer for 'local') "
                    f"(docs/classroom.md)"
                )
    if public_dbs:
        doors.append(
            f"PostgreSQL: every role may connect to {', '.join(public_dbs)}. Fix: REVOKE CONNECT ON DATABASE "
            f"... FROM PUBLIC (docs/classroom.md)"
        )
    return doors
