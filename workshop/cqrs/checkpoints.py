"""Checkpoints: how far each reader of the global feed has got.

A PostgreSQL read model reads and moves its checkpoint *inside the transaction
that updates it* (:func:`lock`, :func:`advance`): either both change or neither, so
a projector killed at any moment resumes exactly where its last commit left it —
no event lost, none applied twice. ``FOR UPDATE`` also makes a second copy of the
same projector wait instead of applying the same events again.
"""

from __future__ import annotations


async def lock(conn, schema: str, name: str, *, durable: bool = True) -> int:
    """The checkpoint of ``name``, locked until the transaction ends (created at 0 if missing).

    ``durable=False`` also turns off waiting for the disk at COMMIT, in the same statement
    (for read models: a commit lost in a crash takes its checkpoint with it, and is redone).
    """
    return await locked(await request_lock(conn, schema, name, durable=durable))


async def request_lock(conn, schema: str, name: str, *, durable: bool = True):
    """Send :func:`lock`'s statements without waiting for the answer; :func:`locked` reads it.

    In psycopg's pipeline mode (``async with conn.pipeline()``) nothing is sent yet: the
    statements leave with whatever the transaction asks next, in one round trip.
    """
    sync = "" if durable else ", set_config('synchronous_commit', 'off', true)"
    await conn.execute(f'INSERT INTO "{schema}".checkpoints (name) VALUES (%s) ON CONFLICT DO NOTHING', (name,))
    return await conn.execute(f'SELECT position{sync} FROM "{schema}".checkpoints WHERE name = %s FOR UPDATE',
                              (name,))


async def locked(cursor) -> int:
    """The position a :func:`request_lock` read (waiting for its round trip if it has not come back yet)."""
    return (await cursor.fetchone())[0]


async def read_one(conn, schema: str, name: str) -> int:
    """The checkpoint of ``name``, without locking it (created at 0)."""
    await conn.execute(f'INSERT INTO "{schema}".checkpoints (name) VALUES (%s) ON CONFLICT DO NOTHING', (name,))
    cur = await conn.execute(f'SELECT position FROM "{schema}".checkpoints WHERE name = %s', (name,))
    return (await cur.fetchone())[0]


async def advance(conn, schema: str, name: str, position: int, skipped: int = 0, *,
                  forward_only: bool = False) -> None:
    """Move ``name`` to ``position`` (in the caller's transaction), adding ``skipped`` unknown events.

    ``forward_only``: never move it back (for an at-least-once reader such as the relay).
    """
    guard = " AND position < %s" if forward_only else ""
    params = (position, skipped, name, position) if forward_only else (position, skipped, name)
    await conn.execute(f'UPDATE "{schema}".checkpoints SET position = %s, skipped = skipped + %s, '
                       f"updated_at = now() WHERE name = %s{guard}", params)


async def read(pool, schema: str) -> dict[str, dict]:
    """Every checkpoint: ``{name: {"position": …, "skipped": …}}``."""
    async with pool.connection() as conn:
        cur = await conn.execute(f'SELECT name, position, skipped FROM "{schema}".checkpoints ORDER BY name')
        return {n: {"position": p, "skipped": s} for n, p, s in await cur.fetchall()}
