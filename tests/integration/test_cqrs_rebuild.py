"""Blue/green rebuild: a second table built from the feed while writes go on, then one atomic swap."""

from __future__ import annotations

import asyncio

from workshop import users
from workshop.cqrs import rebuild
from workshop.cqrs.projectors import PostgresProjector
from workshop.cqrs.readmodels import SignupsByDay, UsersTable
from workshop.cqrs.system import open_store


async def rows(store, table: str) -> list[tuple]:
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            f'SELECT user_id, name, email, status, version FROM "{store.schema}"."{table}" ORDER BY user_id'
        )
        return await cur.fetchall()


async def test_rebuild_swaps_to_an_identical_table_while_writes_continue(ws_settings):
    store = await open_store(ws_settings)
    try:
        blue = await PostgresProjector(store, UsersTable("users_v1")).setup()
        await rebuild.ensure_active(store.pool, store.schema, "users", "users_v1")
        for i in range(200):
            await store.append(f"u{i}", [users.UserCreated(f"u{i}", "A", f"N{i}", f"u{i}@example.org")], 0)
        await blue.catch_up()

        async def writer():
            for i in range(200, 260):
                await store.append(f"u{i}", [users.UserCreated(f"u{i}", "A", f"N{i}", f"u{i}@example.org")], 0)
                await asyncio.sleep(0.001)

        writing = asyncio.create_task(writer())
        green = await rebuild.rebuild(store, UsersTable("users_v2"), progress=False, batch=50)
        at_swap = await green.position()
        await writing
        assert await rebuild.active(store.pool, store.schema) == "users_v2"
        assert at_swap > 200
        await blue.catch_up()
        await green.catch_up()
        assert await rows(store, "users_v2") == await rows(store, "users_v1") == await rows(store, "users")
        assert len(await rows(store, "users")) == 260
    finally:
        await store.close()


async def test_a_new_read_model_back_fills_from_the_start_of_the_feed(ws_settings):
    store = await open_store(ws_settings)
    try:
        for i in range(40):
            await store.append(f"u{i}", [users.UserCreated(f"u{i}", "A", "B", f"u{i}@example.org")], 0)
        signups = await PostgresProjector(store, SignupsByDay()).setup()  # added after the fact
        assert await signups.catch_up() == 40
        async with store.pool.connection() as conn:
            total = (
                await (await conn.execute(f'SELECT sum(signups) FROM "{store.schema}".signups_by_day')).fetchone()
            )[0]
        assert total == 40
    finally:
        await store.close()
