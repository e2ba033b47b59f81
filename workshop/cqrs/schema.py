"""The tables the CQRS side keeps next to the event store (same PostgreSQL schema).

* ``checkpoints``        — per read model: the last feed position it applied, and how
                           many events it skipped (unknown types). Updated in the same
                           transaction as the read model itself.
* ``read_models``        — which physical table a logical read model points at
                           (``users`` → ``users_v1``); a view of the same name follows it,
                           so a rebuild can swap blue/green in one transaction.
* ``email_reservations`` — one row per email in use: the unique index is what makes
                           "one account per email" hold across streams.
* ``move_checkpoint(name, from, to, skipped)`` — moves a read model's checkpoint, or
  fails the transaction (SQLSTATE ``WS001``) when it is no longer at ``from``: the check
  and the move in one statement, so a projector's batch needs no answer before COMMIT.
* ``claim_email(email, user_id, stale_after)`` — claims an address in the caller's transaction, or
  fails it (SQLSTATE ``WS002``) when another user holds it: sent in one query string with the append,
  the claim and the append commit together or not at all, in one round trip.
* a trigger on ``events`` that sends ``NOTIFY <schema>_events`` when appends commit,
  so the relay wakes up at once instead of polling.
"""

from __future__ import annotations

DDL = """
CREATE TABLE IF NOT EXISTS {s}.checkpoints (
    name       text        PRIMARY KEY,
    position   bigint      NOT NULL DEFAULT 0,
    skipped    bigint      NOT NULL DEFAULT 0,     -- events of types this model does not know
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS {s}.read_models (
    name   text PRIMARY KEY,                        -- what queries use: users
    active text NOT NULL                            -- the table behind it: users_v1
);

CREATE TABLE IF NOT EXISTS {s}.email_reservations (
    email       text        PRIMARY KEY,           -- lower-cased: one account per address
    user_id     text        NOT NULL,
    reserved_at timestamptz NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION {s}.move_checkpoint(checkpoint text, from_position bigint, to_position bigint,
                                               unknown bigint) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    -- the row lock makes a second copy of the projector wait here; when the first commits,
    -- the WHERE is checked again against the new row, finds it moved, and fails
    UPDATE {s}.checkpoints SET position = to_position, skipped = skipped + unknown, updated_at = now()
        WHERE name = checkpoint AND position = from_position;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'checkpoint % is no longer at %', checkpoint, from_position USING ERRCODE = 'WS001';
    END IF;
END $fn$;

CREATE OR REPLACE FUNCTION {s}.claim_email(p_email text, p_user text, p_stale float8)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    v_owner text;
BEGIN
    INSERT INTO {s}.email_reservations (email, user_id) VALUES (p_email, p_user) ON CONFLICT (email) DO NOTHING;
    IF FOUND THEN RETURN; END IF;
    -- taken: by this user (a retry), or by a claim whose user never got created (a crash)
    UPDATE {s}.email_reservations r SET user_id = p_user, reserved_at = now()
        WHERE email = p_email AND (user_id = p_user OR (reserved_at < now() - make_interval(secs => p_stale)
              AND NOT EXISTS (SELECT 1 FROM {s}.events e WHERE e.stream_id = r.user_id)));
    IF FOUND THEN RETURN; END IF;
    SELECT user_id INTO v_owner FROM {s}.email_reservations WHERE email = p_email;
    RAISE EXCEPTION 'email % is already used by another user', p_email
        USING ERRCODE = 'WS002', DETAIL = coalesce(v_owner, '?');
END $fn$;

CREATE OR REPLACE FUNCTION {s}.notify_events() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM pg_notify('{channel}', '');             -- delivered when the append commits
    RETURN NULL;
END $fn$;

CREATE OR REPLACE TRIGGER events_notify AFTER INSERT ON {s}.events
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.notify_events();
"""


def channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel that says "new events were committed"."""
    return f"{schema}_events"


async def lock_setup(conn, schema: str) -> None:
    """Serialise DDL on ``schema``'s CQRS tables until this transaction ends: four processes starting
    at once (compose's relay, projectors and two APIs) each run CREATE TABLE IF NOT EXISTS, and two
    such statements racing for one table fail on PostgreSQL's catalogue (duplicate pg_type key)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{schema}.cqrs.setup",))


async def setup(pool, schema: str) -> None:
    """Create the tables and the trigger (idempotent; the event store's tables must exist)."""
    ddl = DDL.replace("{s}", f'"{schema}"').replace("{channel}", channel(schema))
    async with pool.connection() as conn, conn.transaction():
        await lock_setup(conn, schema)
        await conn.execute(ddl)
