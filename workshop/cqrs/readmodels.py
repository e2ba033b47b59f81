"""The read models: tables and keys shaped for the questions the read API answers.

Each one says which event types it understands (``types``) and how a batch of
them changes it (``apply``). The projector (``projectors.py``) does the rest:
reading the feed, skipping and counting unknown types, the checkpoint.

* :class:`UsersTable` (PostgreSQL) — one row per user: ``GET /users/{id}``, ``GET /users``.
* :class:`SignupsByDay` (PostgreSQL) — a second model over the same events,
  added later and back-filled from the feed, without touching the write side.
* :class:`Activity` (Redis) — users per status and the latest events, for a dashboard.

The course's MongoDB read model is replaced by these two stores: the workshop's
services are PostgreSQL, Redis and RabbitMQ.
"""

from __future__ import annotations

import json
from typing import Any

from workshop import users
from workshop.store import Recorded

USER_TYPES = frozenset({"UserCreated", "EmailUpdated", "UserActivated", "UserDeleted"})


class UsersTable:
    """``<schema>.<name>``: id, name, email, status, and the stream version and feed position it reflects."""

    types = USER_TYPES

    def __init__(self, name: str = "users_v1") -> None:
        self.name = name

    async def setup(self, conn: Any, schema: str) -> None:
        t = f'"{schema}"."{self.name}"'
        await conn.execute(f"""CREATE TABLE IF NOT EXISTS {t} (
            user_id text PRIMARY KEY, name text NOT NULL, email text NOT NULL, status text NOT NULL,
            version integer NOT NULL, position bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())""")
        await conn.execute(f'CREATE INDEX IF NOT EXISTS "{self.name}_email" ON {t} (email)')

    async def apply(self, conn: Any, schema: str, records: list[Recorded]) -> None:
        """Fold the batch per user in Python, then write every touched row with one statement."""
        t = f'"{schema}"."{self.name}"'
        first: dict[str, int] = {}  # each user's first version in this batch
        for r in records:
            first.setdefault(r.event.aggregate_id, r.event.version)
        rows: dict[str, dict] = {}
        older = [uid for uid, version in first.items() if version > 1]  # a batch starting at v1 is a new user
        if older:
            cur = await conn.execute(
                f"SELECT user_id, name, email, status, version FROM {t} WHERE user_id = ANY(%s)", (older,)
            )
            rows = {
                uid: {"id": uid, "name": n, "email": e, "status": s, "version": v, "position": 0}
                for uid, n, e, s, v in await cur.fetchall()
            }
        for r in records:
            row = rows.get(r.event.aggregate_id, {})
            if r.event.version <= row.get("version", 0):
                continue  # already applied (defence in depth: the checkpoint already prevents this)
            state = users.evolve({k: row[k] for k in ("id", "name", "email", "status")} if row else {}, r.event)
            if state:
                rows[r.event.aggregate_id] = {**state, "version": r.event.version, "position": r.position}
        touched = [row for row in rows.values() if row["position"]]
        if touched:  # every row in one JSON parameter: one statement, and cheap to send
            await conn.execute(
                f"INSERT INTO {t} (user_id, name, email, status, version, position) "
                "SELECT id, name, email, status, version, position FROM jsonb_to_recordset(%s::jsonb) AS r("
                "id text, name text, email text, status text, version integer, position bigint) "
                "ON CONFLICT (user_id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email, "
                "status = EXCLUDED.status, version = EXCLUDED.version, position = EXCLUDED.position, updated_at = now()",
                (json.dumps(touched),),
            )


class SignupsByDay:
    """``<schema>.<name>``: how many users were created each day (UTC)."""

    types = frozenset({"UserCreated"})

    def __init__(self, name: str = "signups_by_day") -> None:
        self.name = name

    async def setup(self, conn: Any, schema: str) -> None:
        await conn.execute(
            f'CREATE TABLE IF NOT EXISTS "{schema}"."{self.name}" (day date PRIMARY KEY, signups integer NOT NULL)'
        )

    async def apply(self, conn: Any, schema: str, records: list[Recorded]) -> None:
        counts: dict[str, int] = {}
        for r in records:
            day = r.event.timestamp[:10]
            counts[day] = counts.get(day, 0) + 1
        await conn.execute(
            f'INSERT INTO "{schema}"."{self.name}" (day, signups) SELECT * FROM unnest(%s::date[], %s::int[]) '
            f'ON CONFLICT (day) DO UPDATE SET signups = "{self.name}".signups + EXCLUDED.signups',
            (list(counts), list(counts.values())),
        )


class Activity:
    """Redis: ``counts`` (users per status), ``status`` (each user's), ``recent`` (the latest events, newest first)."""

    types = USER_TYPES
    STATUS = {"UserCreated": "inactive", "UserActivated": "active", "UserDeleted": "deleted"}

    def __init__(self, name: str = "activity", keep: int = 50) -> None:
        self.name, self.keep = name, keep

    def keys(self, ns: Any) -> dict[str, str]:
        return {k: ns.key("cqrs", self.name, k) for k in ("counts", "status", "recent")}

    async def read(self, redis: Any, ns: Any, records: list[Recorded]) -> dict[str, str]:
        """The current status of every user in the batch whose first event here is not its first ever
        (a user created in this batch has none yet: a batch of new users reads nothing)."""
        first: dict[str, int] = {}
        for r in records:
            first.setdefault(r.event.aggregate_id, r.event.version)
        ids = [uid for uid, version in first.items() if version > 1]
        if not ids:
            return {}
        values = await redis.hmget(self.keys(ns)["status"], ids)
        return {i: v for i, v in zip(ids, values) if v is not None}

    def write(self, ns: Any, records: list[Recorded], statuses: dict[str, str]) -> list[list[str]]:
        """The batch's changes as Redis commands (run with the checkpoint's move, in one script)."""
        keys, before, statuses = self.keys(ns), dict(statuses), dict(statuses)
        for r in records:
            new = self.STATUS.get(r.event.event_type)
            if new is not None and statuses.get(r.event.aggregate_id) != new:
                statuses[r.event.aggregate_id] = new
        delta: dict[str, int] = {}
        for uid, new in statuses.items():
            old = before.get(uid)
            if old != new:
                delta[new] = delta.get(new, 0) + 1
                if old is not None:
                    delta[old] = delta.get(old, 0) - 1
        commands = [["HINCRBY", keys["counts"], status, str(n)] for status, n in delta.items() if n]
        changed = [x for u, s in statuses.items() if before.get(u) != s for x in (u, s)]
        for i in range(0, len(changed), 1000):  # a script's command takes a few thousand arguments at most
            commands.append(["HSET", keys["status"], *changed[i : i + 1000]])
        latest = [
            json.dumps(
                {
                    "position": r.position,
                    "type": r.event.event_type,
                    "user_id": r.event.aggregate_id,
                    "at": r.event.timestamp,
                }
            )
            for r in records[-self.keep :]
        ]
        if latest:
            commands.append(["LPUSH", keys["recent"], *latest])
            commands.append(["LTRIM", keys["recent"], "0", str(self.keep - 1)])
        return commands
