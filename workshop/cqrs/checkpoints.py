"""Checkpoints: how far each reader of the global feed has got.

A PostgreSQL read model reads and moves its checkpoint *inside the transaction
that updates it* (:func:`lock`, :func:`advance`): either both change or neither, so
a projector killed at any moment resumes exactly where its last commit left it —
no event lost, none applied twice. ``FOR UPDATE`` also makes a second copy of the
same projector wait instead of applying the same events again.
"""

from __future__ import annotations

MOVED = "WS001"  # the SQLSTATE of move_checkpoint (schema.py) when another copy got there first


async def lock(conn, schema: str, name: str, *, durable: bool = True) -> int:
    """The checkpoint of ``name``, locked until the transaction ends (created at 0 if missing).

    ``durable=False`` also turns off waiting for the disk at COMMIT, in the same round trip
    (for read models: a commit lost in a crash takes its checkpoint with it, and is redone).
    """
    sync = "" if durable else ", set_config('synchronous_commit', 'off', true)"
    cur = await conn.execute(f'SELECT position{sync} FROM "{schema}".checkpoints WHERE name = %s FOR UPDATE', (name,))
    row = await cur.fetchone()
    if row is None:
        await conn.execute(f'INSERT INTO "{schema}".checkpoints (name) VALUES (%s) ON CONFLICT DO NOTHING', (name,))
        cur = await conn.execute(f'SELECT position FROM "{schema}".checkpoints WHERE name = %s FOR UPDATE', (name,))
        row = await cur.fetchone()
    return row[0]


async def move(conn, schema: str, name: str, from_position: int, to_position: int, skipped: int = 0) -> None:
    """Move ``name`` from ``from_position`` to ``to_position`` in the caller's transaction, without
    waiting for the disk at COMMIT; the transaction fails with SQLSTATE :data:`MOVED` if the
    checkpoint is no longer at ``from_position`` (another copy committed first).

    One statement that needs no answer: in pipeline mode it leaves with the batch's writes
    and the COMMIT, in one round trip. (A commit lost in a crash loses its checkpoint too,
    and the batch is simply applied again: the feed is the durable copy.)
    """
    await conn.execute(
        f"SELECT set_config('synchronous_commit', 'off', true), \"{schema}\".move_checkpoint(%s, %s, %s, %s)",
        (name, from_position, to_position, skipped),
    )


async def read_one(conn, schema: str, name: str) -> int:
    """The checkpoint of ``name``, without locking it (created at 0)."""
    await conn.execute(f'INSERT INTO "{schema}".checkpoints (name) VALUES (%s) ON CONFLICT DO NOTHING', (name,))
    cur = await conn.execute(f'SELECT position FROM "{schema}".checkpoints WHERE name = %s', (name,))
    return (await cur.fetchone())[0]


async def advance(
    conn, schema: str, name: str, position: int, skipped: int = 0, *, forward_only: bool = False, durable: bool = True
) -> None:
    """Move ``name`` to ``position`` (in the caller's transaction), adding ``skipped`` unknown events.

    ``forward_only``: never move it back (for an at-least-once reader such as the relay).
    ``durable=False``: COMMIT does not wait for the disk (the caller's transaction must be explicit):
    a move lost in a crash only means reading those events again.
    """
    if not durable:
        await conn.execute("SELECT set_config('synchronous_commit', 'off', true)")
    guard = " AND position < %s" if forward_only else ""
    params = (position, skipped, name, position) if forward_only else (position, skipped, name)
    await conn.execute(
        f'UPDATE "{schema}".checkpoints SET position = %s, skipped = skipped + %s, '
        f"updated_at = now() WHERE name = %s{guard}",
        params,
    )


async def read(pool, schema: str) -> dict[str, dict]:
    """Every checkpoint: ``{name: {"position": …, "skipped": …}}``."""
    async with pool.connection() as conn:
        cur = await conn.execute(f'SELECT name, position, skipped FROM "{schema}".checkpoints ORDER BY name')
        return {n: {"position": p, "skipped": s} for n, p, s in await cur.fetchall()}
