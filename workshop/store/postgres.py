"""An event store on PostgreSQL (psycopg 3, async, pooled).

Three guarantees, and where each one comes from:

1. **No lost or duplicate versions.** ``UNIQUE (stream_id, version)`` forbids two
   version 3s, and the caller's ``expected_version`` is checked inside the same
   transaction as the insert — the course's ``SELECT MAX(version)+1`` then
   ``INSERT`` left a window between the two where another writer could slip in.
2. **A gap-free global feed.** A ``bigserial`` hands out numbers when a row is
   *inserted*, but rows become visible when their transaction *commits*, in
   any order: a reader can see position 11, move its cursor past it, and only
   then see position 10 appear — an event that projection never gets. Here every
   append takes one transaction-scoped advisory lock before it numbers its
   events, and holds it until COMMIT, so positions are handed out and become
   visible in the same order. (The price: appends are serialised. The Python
   ``eventsourcing`` library does the same with ``LOCK TABLE … EXCLUSIVE``; the
   alternative, reading only below the oldest running transaction id, keeps
   writers parallel but lets any idle transaction on the server stall every feed.)
3. **Append-only.** Triggers make UPDATE, DELETE and TRUNCATE on ``events`` fail.

The whole append is one SQL function call: one round trip, one transaction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from workshop.config import Namespace, Settings, settings
from workshop.events import Event
from workshop.store.base import BaseStore, ConcurrencyError, Recorded, Snapshot, trusted_event

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {s};

CREATE TABLE IF NOT EXISTS {s}.events (
    position       bigint      PRIMARY KEY,        -- global feed order: 1, 2, 3 … no holes
    stream_id      text        COLLATE "C" NOT NULL,  -- byte order: faster index than a locale
    version        integer     NOT NULL CHECK (version >= 1),
    event_type     text        NOT NULL,
    data           jsonb       NOT NULL,
    "timestamp"    timestamptz NOT NULL,
    event_id       text        NOT NULL,           -- a retried append fails on expected_version instead
    correlation_id text,
    causation_id   text,
    schema_version integer     NOT NULL DEFAULT 1,
    UNIQUE (stream_id, version)                    -- one version 3 per stream, ever
);

CREATE TABLE IF NOT EXISTS {s}.snapshots (        -- a cache: rows may be deleted
    stream_id  text        NOT NULL,
    tag        text        NOT NULL DEFAULT '',
    version    integer     NOT NULL,
    state      jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, tag, version)
);

CREATE OR REPLACE FUNCTION {s}.append_events(p_stream text, p_expected integer, p_events jsonb)
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
    v_current integer;
    v_head    bigint;
BEGIN
    -- one appender at a time until COMMIT: positions become visible in order
    PERFORM pg_advisory_xact_lock({lock_key});
    -- optimistic concurrency: did the stream move since the caller read it?
    SELECT coalesce(max(version), 0) INTO v_current FROM {s}.events WHERE stream_id = p_stream;
    IF p_expected IS NOT NULL AND p_expected <> v_current THEN
        RAISE EXCEPTION 'stream % is at version %, not %', p_stream, v_current, p_expected
            USING ERRCODE = 'ES409', DETAIL = v_current::text;
    END IF;
    -- max + 1 is safe here: nobody else can append until we commit
    SELECT coalesce(max(position), 0) INTO v_head FROM {s}.events;
    INSERT INTO {s}.events (position, stream_id, version, event_type, data, "timestamp",
                            event_id, correlation_id, causation_id, schema_version)
    SELECT v_head + n, p_stream, v_current + n, t, d, ts, id, c, ca, sv
    FROM ROWS FROM (jsonb_to_recordset(p_events) AS (
             event_type text, data jsonb, "timestamp" timestamptz, event_id text,
             correlation_id text, causation_id text, schema_version integer)
         ) WITH ORDINALITY AS e(t, d, ts, id, c, ca, sv, n);
    RETURN v_current + jsonb_array_length(p_events);
END $fn$;

CREATE OR REPLACE FUNCTION {s}.forbid_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'events are append-only: % on %.% is not allowed', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'ES405', HINT = 'record a new event (e.g. a correction or UserDeleted) instead';
END $fn$;

CREATE OR REPLACE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON {s}.events
    FOR EACH ROW EXECUTE FUNCTION {s}.forbid_change();
CREATE OR REPLACE TRIGGER events_no_truncate BEFORE TRUNCATE ON {s}.events
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.forbid_change();
"""

# data as text and the timestamp already formatted: parsing all the JSON in one call and
# skipping datetime objects makes rebuilding a long stream about twice as fast
COLUMNS = (
    "event_type, stream_id, data::text, "
    """to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), """
    "version, event_id, correlation_id, causation_id, schema_version"
)

POOL_OPTIONS = {
    "autocommit": True,  # one statement = one transaction: an append is a single round trip
    # UTC timestamps back; never wait forever for the append lock or a statement
    "options": "-c TimeZone=UTC -c lock_timeout=10s -c statement_timeout=60s",
}


def pool_kwargs() -> dict:
    """Connection settings the store relies on (pass them when you build your own pool)."""
    return dict(POOL_OPTIONS)


class PostgresEventStore(BaseStore):
    """Events in ``<namespace>.events``. Open with ``await PostgresEventStore.open()``."""

    def __init__(self, pool, schema: str, *, owns_pool: bool = False, **kw) -> None:
        super().__init__(**kw)
        if not re.fullmatch(r"[a-z][a-z0-9_]*", schema):
            raise ValueError(f"not a safe schema name: {schema!r}")
        self.pool, self.schema, self._owns_pool = pool, schema, owns_pool
        s = f'"{schema}"'
        self._sql_append = f"SELECT {s}.append_events(%s, %s, %s::jsonb)"
        self._sql_read = (
            f"SELECT {COLUMNS} FROM {s}.events WHERE stream_id = %s AND version BETWEEN %s AND %s ORDER BY version"
        )
        self._sql_all = f"SELECT position, {COLUMNS} FROM {s}.events WHERE position > %s ORDER BY position LIMIT %s"
        self._sql_last = f"SELECT position FROM {s}.events WHERE stream_id = %s ORDER BY version DESC LIMIT 1"

    @classmethod
    async def open(
        cls,
        s: Settings | None = None,
        *,
        namespace: Namespace | None = None,
        pool=None,
        max_size: int = 10,
        personal_fields: dict[str, tuple[str, ...]] | None = None,
        **kw,
    ) -> PostgresEventStore:
        """Connect (or use ``pool``), create the tables if needed, return the store.

        ``personal_fields`` (e.g. ``users.PERSONAL_FIELDS``) turns on crypto-shredding
        with per-stream keys in ``<schema>.stream_keys``.
        """
        from workshop import connect
        from workshop.store.crypto import Cipher, PostgresKeyStore

        s = s or settings()
        owns = pool is None
        if pool is None:
            pool = await connect.postgres_pool(s, min_size=1, max_size=max_size, kwargs=pool_kwargs())
        schema = (namespace or s.namespace).schema
        if personal_fields:
            kw["cipher"] = Cipher(PostgresKeyStore(pool, schema), personal_fields)
        store = cls(pool, schema, owns_pool=owns, **kw)
        try:
            await store.setup()
            if store.cipher is not None and isinstance(store.cipher.keys, PostgresKeyStore):
                await store.cipher.keys.setup()
        except BaseException:
            await store.close()
            raise
        return store

    async def setup(self) -> None:
        """Create schema, tables, function and triggers (idempotent, safe to run concurrently)."""
        s = f'"{self.schema}"'
        ddl = SCHEMA.replace("{s}", s).replace("{lock_key}", f"hashtext('{self.schema}.events')")
        async with self.pool.connection() as conn:
            if not conn.autocommit:  # else each append would be rolled back when the pool takes it back
                raise ValueError("PostgresEventStore needs an autocommit pool: kwargs=pool_kwargs()")
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{self.schema}.setup",))
                await conn.execute(ddl)

    async def close(self) -> None:
        if self._owns_pool:
            await self.pool.close()

    # --- writing -----------------------------------------------------------------------
    async def append(self, stream_id: str, events: Sequence[Event], expected_version: int | None) -> int:
        import psycopg

        events = await self._encode(stream_id, self._check(stream_id, events, expected_version))
        if not events:
            return await self.version(stream_id)
        # the whole batch travels as one JSON document: one parameter, one round trip
        # (the function picks the fields it needs; version and position are its job)
        batch = json.dumps([vars(e) for e in events])
        params = (stream_id, expected_version, batch)
        try:
            async with self.pool.connection() as conn:
                cur = await conn.execute(self._sql_append, params)
                return (await cur.fetchone())[0]
        except psycopg.Error as exc:
            if exc.sqlstate == "ES409":
                raise ConcurrencyError(stream_id, expected_version, int(exc.diag.message_detail or 0)) from None
            raise

    async def append_at(
        self,
        stream_id: str,
        events: Sequence[Event],
        expected_version: int | None,
        *,
        first: tuple[str, Sequence[Any]] | None = None,
    ) -> tuple[int, int]:
        """:meth:`append`, and the feed position of its last event — still one round trip: the append and
        the lookup travel as one query string, which PostgreSQL runs as one transaction.

        ``first``: ``(sql, params)``, statements to run in front of the append in the same string and
        transaction: if one fails, nothing is appended; if the append fails, they are undone. Chapter
        4's email claim rides here.
        """
        import psycopg

        events = await self._encode(stream_id, self._check(stream_id, events, expected_version))
        if not events:
            version = await self.version(stream_id)
            return version, await self.position(stream_id, version)
        sql, params = first or ("", ())
        ours = f"{self._sql_append}; {self._sql_last}"
        params = (*params, stream_id, expected_version, json.dumps([vars(e) for e in events]), stream_id)
        try:
            async with self.pool.connection() as conn:
                # a client-side cursor sends several statements with their parameters in one message
                cur = psycopg.AsyncClientCursor(conn)
                await cur.execute(f"{sql}; {ours}" if sql else ours, params)
                results = [await cur.fetchall() if cur.description else []]
                while cur.nextset():  # the results of ``first``, then the append's, then the lookup's
                    results.append(await cur.fetchall() if cur.description else [])
            return results[-2][0][0], results[-1][0][0]
        except psycopg.Error as exc:
            if exc.sqlstate == "ES409":
                raise ConcurrencyError(stream_id, expected_version, int(exc.diag.message_detail or 0)) from None
            raise

    # --- reading -----------------------------------------------------------------------
    async def read(self, stream_id: str, from_version: int = 1, to_version: int | None = None) -> list[Event]:
        async with self.pool.connection() as conn:
            last = 2**31 - 1 if to_version is None else to_version  # 0 means "before the first event"
            cur = await conn.execute(self._sql_read, (stream_id, from_version, last))
            rows = await cur.fetchall()
        return await self._decode(_events(rows))

    async def read_all(self, after: int = 0, limit: int = 1000) -> list[Recorded]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(self._sql_all, (after, limit))
            rows = await cur.fetchall()
        events = await self._decode(_events([r[1:] for r in rows]))
        return [Recorded(r[0], e) for r, e in zip(rows, events)]

    async def version(self, stream_id: str) -> int:
        return await self._scalar(
            f'SELECT coalesce(max(version), 0) FROM "{self.schema}".events WHERE stream_id = %s', (stream_id,)
        )

    async def head(self) -> int:
        """The position of the last committed event (0 when empty)."""
        return await self._scalar(f'SELECT coalesce(max(position), 0) FROM "{self.schema}".events')

    async def position(self, stream_id: str, version: int) -> int:
        """The feed position of ``stream_id``'s event number ``version`` (0 for version 0 or none): one indexed lookup."""
        if version <= 0:
            return 0
        return await self._scalar(
            f'SELECT coalesce(max(position), 0) FROM "{self.schema}".events WHERE stream_id = %s AND version = %s',
            (stream_id, version),
        )

    async def raw(self, stream_id: str) -> list[Event]:
        """The events exactly as stored: no decryption, no upcasting."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(self._sql_read, (stream_id, 1, 2**31 - 1))
            return _events(await cur.fetchall())

    # --- snapshots ---------------------------------------------------------------------
    async def save_snapshot(self, snapshot: Snapshot) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                f'INSERT INTO "{self.schema}".snapshots (stream_id, tag, version, state) VALUES (%s, %s, %s, %s::jsonb) '
                "ON CONFLICT (stream_id, tag, version) DO UPDATE SET state = EXCLUDED.state, created_at = now()",
                (snapshot.stream_id, snapshot.tag, snapshot.version, json.dumps(snapshot.state)),
            )

    async def load_snapshot(self, stream_id: str, tag: str = "", max_version: int | None = None) -> Snapshot | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f'SELECT version, state FROM "{self.schema}".snapshots WHERE stream_id = %s AND tag = %s '
                "AND version <= %s ORDER BY version DESC LIMIT 1",
                (stream_id, tag, 2**31 - 1 if max_version is None else max_version),
            )
            row = await cur.fetchone()
        return None if row is None else Snapshot(stream_id, row[0], row[1], tag)

    async def _delete_snapshots(self, stream_id: str) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(f'DELETE FROM "{self.schema}".snapshots WHERE stream_id = %s', (stream_id,))

    async def _scalar(self, query: str, params: tuple = ()):
        async with self.pool.connection() as conn:
            cur = await conn.execute(query, params)
            return (await cur.fetchone())[0]


def _events(rows: Sequence[tuple]) -> list[Event]:
    """Stored rows → Events. Timestamps come back in UTC, formatted like ``datetime.isoformat()``."""
    datas = json.loads("[" + ",".join([r[2] for r in rows]) + "]")  # one parse for the whole batch
    return [
        trusted_event(t, sid, data, (ts[:-7] if ts.endswith(".000000") else ts) + "+00:00", v, eid, corr, caus, sv)
        for (t, sid, _, ts, v, eid, corr, caus, sv), data in zip(rows, datas)
    ]
