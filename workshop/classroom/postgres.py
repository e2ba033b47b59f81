"""PostgreSQL for a class: one database, one login role per learner owning only its schemas.

In the database ``workshop_classroom`` nobody but the instructor has rights on
``public``; the group role ``workshop_learners`` may connect and create schemas,
and an event trigger (run by the server, not by convention) refuses any schema a
learner creates or renames outside its namespace (``ws_alice`` or ``ws_alice_*``).
A schema belongs to the role that created it, so another learner has no rights on
it: reading ``ws_bob.events`` as ``ws_alice`` is "permission denied".
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from workshop.classroom.learners import DATABASE, Learner

GROUP = "workshop_learners"

_GUARD = f"""
CREATE OR REPLACE FUNCTION workshop_classroom_schema_guard() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
    obj record;
    me text := session_user;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_auth_members m
                   WHERE m.roleid = '{GROUP}'::regrole AND m.member = session_user::regrole) THEN
        RETURN;  -- not a learner: the instructor (a superuser is a "member" of every role for pg_has_role)
    END IF;
    FOR obj IN SELECT * FROM pg_event_trigger_ddl_commands() WHERE object_type = 'schema' LOOP
        IF obj.object_identity <> me AND left(obj.object_identity, length(me) + 1) <> me || '_' THEN
            RAISE EXCEPTION 'schema % is outside your namespace: use % or %_<something>',
                obj.object_identity, me, me;
        END IF;
    END LOOP;
END $$;
DROP EVENT TRIGGER IF EXISTS workshop_classroom_schema_guard;
CREATE EVENT TRIGGER workshop_classroom_schema_guard ON ddl_command_end
    WHEN TAG IN ('CREATE SCHEMA', 'ALTER SCHEMA')
    EXECUTE FUNCTION workshop_classroom_schema_guard();
"""


def _connect(admin_url: str, database: str | None = None) -> psycopg.Connection:
    from urllib.parse import urlsplit, urlunsplit

    url = admin_url if database is None else urlunsplit(urlsplit(admin_url)._replace(path="/" + database))
    return psycopg.connect(url, autocommit=True, connect_timeout=5)


def _login(url: str) -> tuple[str, str]:
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    return unquote(parts.username or "postgres"), unquote(parts.password or "")


def prepare(admin_url: str) -> None:
    """Create the class database, the learners' group and the schema guard (safe to repeat)."""
    with _connect(admin_url) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (GROUP,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(GROUP)))
    with _connect(admin_url, DATABASE) as conn:
        db, group = sql.Identifier(DATABASE), sql.Identifier(GROUP)
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
        conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        conn.execute(sql.SQL("GRANT CONNECT, CREATE ON DATABASE {} TO {}").format(db, group))
        conn.execute(_GUARD)


def add(admin_url: str, learner: Learner) -> None:
    """The learner's login role (password set again each time) and its own schema."""
    role = sql.Identifier(learner.account)
    with _connect(admin_url) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (learner.account,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                             "CONNECTION LIMIT 40 PASSWORD {}").format(role, sql.Literal(learner.postgres)))
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(GROUP), role))
        conn.execute(sql.SQL("ALTER ROLE {} SET search_path = {}").format(role, role))
    with _connect(admin_url, DATABASE) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(role, role))


def reset(admin_url: str, learner: Learner) -> int:
    """Drop everything the learner owns in the class database (its schemas included); returns the count of schemas."""
    with _connect(admin_url, DATABASE) as conn:
        count = conn.execute("SELECT count(*) FROM pg_namespace WHERE pg_get_userbyid(nspowner) = %s",
                             (learner.account,)).fetchone()[0]
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (learner.account,)).fetchone():
            conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(learner.account)))
    return int(count)


def remove(admin_url: str, learner: Learner) -> None:
    """Drop the learner's objects and role (it must not be connected)."""
    reset(admin_url, learner)
    with _connect(admin_url) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(learner.account)))


def open_doors(admin_url: str) -> list[str]:
    """What lets a learner around its role: a passwordless admin login over TCP (``trust`` in pg_hba)."""
    user, password = _login(admin_url)
    if password:
        return []
    try:
        with _connect(admin_url):
            pass
    except psycopg.Error:
        return []
    return [f"PostgreSQL accepts {user!r} without a password (pg_hba 'trust'): a learner could log in as "
            f"the superuser. Fix: use scram-sha-256 for host lines in pg_hba.conf (docs/classroom.md)"]
