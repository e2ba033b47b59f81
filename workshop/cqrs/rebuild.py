"""Rebuilding a read model blue/green, and which table a read model points at.

Queries use the view ``<schema>.users``; the registry ``read_models`` says which
table is behind it (``users_v1``). To rebuild — after a bug fix, or a new column:

1. create ``users_v2`` next to the live ``users_v1`` (which keeps serving and updating);
2. project the whole global feed into it, with a progress bar;
3. in one transaction: catch up the last few events, then point the view at ``users_v2``.

Readers never see a half-built table, and there is no moment without one. The
old table stays until you drop it (a quick way back).
"""

from __future__ import annotations

from typing import Any

from workshop.cqrs.projectors import PostgresProjector


async def active(pool: Any, schema: str, logical: str = "users") -> str | None:
    """The table behind read model ``logical`` (None before the first activation)."""
    async with pool.connection() as conn:
        cur = await conn.execute(f'SELECT active FROM "{schema}".read_models WHERE name = %s', (logical,))
        row = await cur.fetchone()
    return row[0] if row else None


async def activate(conn: Any, schema: str, logical: str, table: str) -> None:
    """Point view ``logical`` at ``table`` (in the caller's transaction: readers switch at COMMIT)."""
    await conn.execute(f'DROP VIEW IF EXISTS "{schema}"."{logical}"')
    await conn.execute(f'CREATE VIEW "{schema}"."{logical}" AS SELECT * FROM "{schema}"."{table}"')
    await conn.execute(
        f'INSERT INTO "{schema}".read_models (name, active) VALUES (%s, %s) '
        "ON CONFLICT (name) DO UPDATE SET active = EXCLUDED.active",
        (logical, table),
    )


async def ensure_active(pool: Any, schema: str, logical: str, table: str) -> str:
    """Activate ``table`` unless ``logical`` already points somewhere; returns the active table."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{schema}.read_models",))
        cur = await conn.execute(f'SELECT active FROM "{schema}".read_models WHERE name = %s', (logical,))
        row = await cur.fetchone()
        if row:
            return row[0]
        await activate(conn, schema, logical, table)
        return table


async def rebuild(
    store: Any, projection: Any, *, logical: str = "users", progress: bool = True, batch: int = 5000
) -> PostgresProjector:
    """Build ``projection`` (a new table) from the whole feed, then swap ``logical`` to it.

    Returns the new table's projector, caught up; start it to keep it current.
    """
    projector = await PostgresProjector(store, projection, batch=batch).setup()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=await store.head(), unit="event", desc=f"rebuild {projection.name}")
        projector.listeners.append(lambda positions, _t: bar.update(len(positions)))
    try:
        await projector.catch_up()  # the bulk, while the old table keeps serving
    finally:
        if bar is not None:
            bar.close()
            projector.listeners.clear()
    # the last events and the swap in one transaction: the view never points at a table behind the old one
    while (
        await projector.step(also=lambda conn: activate(conn, store.schema, logical, projection.name))
        == projector.batch
    ):
        pass
    return projector
