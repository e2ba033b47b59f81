"""One account per email — a rule that spans streams, so no single aggregate can enforce it.

Each user is its own stream, and an append only checks *its* stream's version.
Two ``CreateUser`` commands with the same email, for two different users, never
touch the same stream: nothing in the event store stops both.

* :class:`ReadModelCheck` — the tempting fix: "look the email up in the read
  model first". Two requests both look, both see nothing (the read model is
  behind anyway), both append. The notebook races them and counts duplicates.
* :class:`EmailReservations` — a table whose primary key *is* the email. A
  command first claims its address with one ``INSERT … ON CONFLICT DO NOTHING``;
  the database lets exactly one claim win. The claim is released if the
  append fails, and when the user changes address or is deleted. On the event
  store's own database (:meth:`EmailReservations.joins`) the claim and the release
  ride in the append's transaction instead (``claim_email`` in ``schema.py``): they
  commit with it or not at all, and a command costs one round trip.

A process that dies between claim and append leaves a claim with no user: such a
claim is taken over after ``stale_after`` seconds if its user's stream is still empty.
"""

from __future__ import annotations

from typing import Any, Protocol

from workshop.errors import WorkshopError

TAKEN = "WS002"  # the SQLSTATE of claim_email (schema.py) when another user holds the address


class EmailTaken(WorkshopError):
    """Another user already has this email."""

    def __init__(self, email: str, owner: str) -> None:
        self.email, self.owner = email, owner
        super().__init__(f"email {email!r} is already used by another user")


class EmailClaims(Protocol):
    """What the command handler asks of a uniqueness rule (both classes below keep it)."""

    async def claim(self, email: str, user_id: str) -> bool: ...
    async def release(self, email: str, user_id: str) -> None: ...
    def joins(self, store: Any) -> bool: ...  # can claim and release ride in ``store``'s append transaction?
    def statements(self, *, claim: str | None, release: str | None, user_id: str) -> tuple[str, list]: ...
    def taken(self, exc: BaseException, email: str) -> EmailTaken | None: ...  # a queued claim of ``email`` failed?


class ReadModelCheck:
    """The racy check: ask the users read model whether the email is in use."""

    def __init__(self, pool, schema: str) -> None:
        self.pool, self.schema = pool, schema

    async def claim(self, email: str, user_id: str) -> bool:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f'SELECT user_id FROM "{self.schema}".users WHERE email = %s AND user_id <> %s '
                "AND status <> 'deleted' LIMIT 1",
                (email.lower(), user_id),
            )
            row = await cur.fetchone()
        if row:
            raise EmailTaken(email, row[0])
        return False  # nothing was reserved, nothing to release

    async def release(self, email: str, user_id: str) -> None:
        pass

    def joins(self, store: Any) -> bool:
        return False  # a read, not a write: nothing to put in the append's transaction

    def statements(self, *, claim: str | None, release: str | None, user_id: str) -> tuple[str, list]:
        raise NotImplementedError

    def taken(self, exc: BaseException, email: str) -> EmailTaken | None:
        return None


class EmailReservations:
    """Claims in ``<schema>.email_reservations``: the primary key lets one claim win."""

    def __init__(self, pool, schema: str, *, stale_after: float = 60.0) -> None:
        self.pool, self.schema, self.stale_after = pool, schema, stale_after
        self.table = f'"{schema}".email_reservations'

    async def claim(self, email: str, user_id: str) -> bool:
        """Reserve ``email`` for ``user_id``; True if newly reserved, False if it was already theirs.

        Raises :class:`EmailTaken` if someone else holds it.
        """
        email = email.lower()
        async with self.pool.connection() as conn:
            # one round trip, and COMMIT does not wait for the disk: the append that follows a claim
            # waits for it, and flushing the log up to the append flushes the claim written before it
            # (a claim lost in a crash had no append either)
            async with conn.pipeline(), conn.transaction():
                await conn.execute("SELECT set_config('synchronous_commit', 'off', true)")
                cur = await conn.execute(
                    f"INSERT INTO {self.table} (email, user_id) VALUES (%s, %s) "
                    "ON CONFLICT (email) DO NOTHING RETURNING user_id",
                    (email, user_id),
                )
            if await cur.fetchone():
                return True
            # taken: by this user (a retry), or by a claim whose user never got created (a crash)
            cur = await conn.execute(
                f"UPDATE {self.table} r SET user_id = %s, reserved_at = now() WHERE email = %s AND (user_id = %s OR ("
                f"reserved_at < now() - make_interval(secs => %s) AND NOT EXISTS ("
                f'SELECT 1 FROM "{self.schema}".events e WHERE e.stream_id = r.user_id))) RETURNING user_id',
                (user_id, email, user_id, self.stale_after),
            )
            if await cur.fetchone():
                return False
            cur = await conn.execute(f"SELECT user_id FROM {self.table} WHERE email = %s", (email,))
            row = await cur.fetchone()
        raise EmailTaken(email, row[0] if row else "?")

    async def release(self, email: str, user_id: str) -> None:
        """Give ``email`` back (only if ``user_id`` holds it)."""
        async with self.pool.connection() as conn:
            await conn.execute(f"DELETE FROM {self.table} WHERE email = %s AND user_id = %s", (email.lower(), user_id))

    def joins(self, store: Any) -> bool:
        """True when ``store`` is the event store in this database and schema (``claim_email`` lives next to it)."""
        return getattr(store, "pool", None) is self.pool and getattr(store, "schema", None) == self.schema

    def statements(self, *, claim: str | None, release: str | None, user_id: str) -> tuple[str, list]:
        """``(sql, params)`` for the append's transaction (``store.append_at(first=…)``): claim a new address,
        give an old one back. The transaction fails with SQLSTATE :data:`TAKEN` if another user holds
        ``claim`` (see :meth:`taken`)."""
        sql, params = [], []
        if claim:
            sql.append(f'SELECT "{self.schema}".claim_email(%s, %s, %s)')
            params += [claim.lower(), user_id, self.stale_after]
        if release:
            sql.append(f"DELETE FROM {self.table} WHERE email = %s AND user_id = %s")
            params += [release.lower(), user_id]
        return "; ".join(sql), params

    def taken(self, exc: BaseException, email: str) -> EmailTaken | None:
        """The :class:`EmailTaken` that ``exc`` stands for when a queued claim of ``email`` failed (else None)."""
        if getattr(exc, "sqlstate", None) != TAKEN:
            return None
        return EmailTaken(email.lower(), getattr(getattr(exc, "diag", None), "message_detail", None) or "?")

    async def owner(self, email: str) -> str | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(f"SELECT user_id FROM {self.table} WHERE email = %s", (email.lower(),))
            row = await cur.fetchone()
        return row[0] if row else None
