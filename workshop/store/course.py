"""The course's ``PostgreSQLEventStore``, kept *with* its bugs so we can measure them.

(Each chapter's room keeps the course's code as written in a ``course.py``:
``orders/course.py`` for chapter 1, this one for chapter 3.)

Its ``append`` reads ``MAX(version) + 1`` and then inserts, in two statements.
Between the two, another writer can read the same maximum:

* with ``UNIQUE (aggregate_id, version)`` the second insert fails — the event
  is **lost** unless the caller retries (the course's code doesn't);
* without it, both rows get the same version — **silent corruption**.

And its ``SERIAL id``, used as a global feed, lets a follower skip events
(:func:`feed_gap_demo`). Never use this class for anything but the demo.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime, timezone

from workshop.config import Settings
from workshop.waiting import within


class CourseEventStore:
    """The course's code, translated to psycopg 3 async. Bugs included on purpose."""

    def __init__(self, pool, schema: str, table: str = "course_events") -> None:
        self.pool, self.table = pool, f'"{schema}".{table}'

    async def create_table(self, unique: bool = True) -> None:
        constraint = ",\n    UNIQUE(aggregate_id, version)" if unique else ""
        async with self.pool.connection() as conn:
            await conn.execute(f"""
                CREATE TABLE IF NOT EXISTS {self.table} (
                    id SERIAL PRIMARY KEY,
                    aggregate_id VARCHAR(255) NOT NULL,
                    event_type VARCHAR(255) NOT NULL,
                    data JSONB NOT NULL,
                    timestamp TIMESTAMP NOT NULL,
                    version INTEGER NOT NULL{constraint}
                )""")

    async def append(self, aggregate_id: str, event_type: str, data: dict) -> int:
        async with self.pool.connection() as conn:
            async with conn.transaction():
                cur = await conn.execute(  # 1. read the next version …
                    f"SELECT COALESCE(MAX(version), 0) + 1 FROM {self.table} WHERE aggregate_id = %s",
                    (aggregate_id,))
                version = (await cur.fetchone())[0]
                await conn.execute(  # 2. … and insert it: someone may have taken it meanwhile
                    f"INSERT INTO {self.table} (aggregate_id, event_type, data, timestamp, version) "
                    "VALUES (%s, %s, %s, %s, %s)",
                    (aggregate_id, event_type, json.dumps(data), datetime.now(timezone.utc), version))
            return version

    async def get_events(self, aggregate_id: str) -> list[dict]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT aggregate_id, event_type, data, timestamp, version FROM {self.table} "
                "WHERE aggregate_id = %s ORDER BY version", (aggregate_id,))
            return [dict(zip(("aggregate_id", "event_type", "data", "timestamp", "version"), r))
                    for r in await cur.fetchall()]

    async def feed_after(self, last_id: int) -> list[int]:
        """The ids a follower gets when it asks for "everything after ``last_id``"."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(f"SELECT id FROM {self.table} WHERE id > %s ORDER BY id", (last_id,))
            return [r[0] for r in await cur.fetchall()]


@dataclass
class NaiveResult:
    writers: int
    attempted: int
    stored: int  # rows in the table
    failed: int  # appends that raised a unique violation: lost, nobody retried
    duplicate_rows: int  # rows whose version another row of the stream also has
    distinct_versions: int

    @property
    def failed_pct(self) -> float:
        return 100 * self.failed / self.attempted

    @property
    def duplicate_pct(self) -> float:
        return 100 * self.duplicate_rows / max(self.stored, 1)


async def measure_naive(s: Settings, *, writers: int = 4, appends: int = 50, unique: bool = True,
                        table: str = "course_events", timeout: float = 60.0) -> NaiveResult:
    """``writers`` tasks each append ``appends`` events to one aggregate, the course's way."""
    from psycopg.errors import UniqueViolation

    from workshop import connect

    pool = await connect.postgres_pool(s, max_size=writers + 1)
    try:
        async with pool.connection() as conn:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{s.namespace.schema}"')
            await conn.execute(f'DROP TABLE IF EXISTS "{s.namespace.schema}".{table}')
        store = CourseEventStore(pool, s.namespace.schema, table)
        await store.create_table(unique=unique)
        failed = 0

        async def writer(w: int) -> None:
            nonlocal failed
            for i in range(appends):
                try:
                    await store.append("user-1", "EmailUpdated", {"email": f"w{w}-{i}@example.com"})
                except UniqueViolation:
                    failed += 1

        await within(asyncio.gather(*(writer(w) for w in range(writers))), timeout, what=f"{writers} writers")
        versions = [e["version"] for e in await store.get_events("user-1")]
        dup_rows = sum(c for c in (versions.count(v) for v in set(versions)) if c > 1)
        return NaiveResult(writers, writers * appends, len(versions), failed, dup_rows, len(set(versions)))
    finally:
        await pool.close()


async def feed_gap_demo(s: Settings, table: str = "course_gap") -> dict:
    """Two transactions commit out of order; a follower of the SERIAL feed skips one event.

    Returns what the follower saw and what the table holds at the end.
    """
    from workshop import connect

    a = await connect.postgres(s)
    b = await connect.postgres(s, autocommit=True)
    try:
        await b.execute(f'CREATE SCHEMA IF NOT EXISTS "{s.namespace.schema}"')
        await b.execute(f'DROP TABLE IF EXISTS "{s.namespace.schema}".{table}')
        store = CourseEventStore(None, s.namespace.schema, table)
        await b.execute(f"CREATE TABLE {store.table} (id SERIAL PRIMARY KEY, aggregate_id text NOT NULL)")
        # A inserts first (gets id 1) but has not committed yet …
        await a.execute(f"INSERT INTO {store.table} (aggregate_id) VALUES ('user-a')")
        # … B inserts (gets id 2) and commits
        await b.execute(f"INSERT INTO {store.table} (aggregate_id) VALUES ('user-b')")

        async def feed_after(last: int) -> list[int]:
            cur = await b.execute(f"SELECT id FROM {store.table} WHERE id > %s ORDER BY id", (last,))
            return [r[0] for r in await cur.fetchall()]

        first = await feed_after(0)  # the follower sees [2] and remembers 2
        await a.commit()  # now id 1 becomes visible — behind the follower's cursor
        second = await feed_after(first[-1] if first else 0)
        everything = await feed_after(0)
        seen = first + second
        return {"first_read": first, "second_read": second, "table": everything,
                "skipped": sorted(set(everything) - set(seen))}
    finally:
        await a.close()
        await b.close()


async def feed_gap_fixed(store) -> dict:
    """The same schedule against :class:`PostgresEventStore`: B has to wait for A.

    A appends inside an open transaction (holding the append lock); B's append
    waits; the follower sees nothing; A commits; then B — positions 1, 2 in order.
    """
    from workshop.events import Event

    async with store.pool.connection() as a:
        await a.execute("BEGIN")  # A's transaction stays open: it holds the append lock
        await a.execute(store._sql_append, ("user-a", None, json.dumps([vars(Event("Tick", "user-a", {}))])))
        b_task = asyncio.create_task(store.append("user-b", [Event("Tick", "user-b", {})], None))
        await asyncio.sleep(0.3)
        b_waiting = not b_task.done()
        first = [r.position for r in await store.read_all()]  # nothing committed yet
        await a.execute("COMMIT")
        await within(b_task, 5, what="B's append after A's commit")
        second = [r.position for r in await store.read_all(after=first[-1] if first else 0)]
        return {"b_waited": b_waiting, "first_read": first, "second_read": second,
                "streams": [r.event.aggregate_id for r in await store.read_all()]}
