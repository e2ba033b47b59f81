"""Crypto-shredding and upcasting on PostgreSQL."""

import json

from workshop import users
from workshop.events import Event
from workshop.store import PostgresEventStore
from workshop.store.crypto import REDACTED


async def test_forget_user_on_postgres(ws_settings):
    store = await PostgresEventStore.open(ws_settings, personal_fields=users.PERSONAL_FIELDS, upcasters=users.UPCASTERS)
    try:
        await store.append(
            "user-1",
            [
                Event("UserCreated", "user-1", {"name": "Alice Liddell", "email": "a@example.com"}),
                users.UserActivated("user-1"),
            ],
            0,
        )
        async with store.pool.connection() as conn:
            cur = await conn.execute(f'SELECT data, schema_version FROM "{store.schema}".events ORDER BY position')
            rows = await cur.fetchall()
        assert "Alice" not in json.dumps(rows[0][0]) and rows[0][1] == 1  # encrypted, stored as v1
        (created, _) = await store.read("user-1")
        assert created.schema_version == 2 and created.data["last_name"] == "Liddell"  # upcast on read
        assert users.fold(await store.read("user-1"))["name"] == "Alice Liddell"
        await store.forget("user-1")
        state = users.fold(await store.read("user-1"))
        assert state == {"id": "user-1", "name": REDACTED, "email": REDACTED, "status": "active"}
        again = await PostgresEventStore.open(ws_settings, personal_fields=users.PERSONAL_FIELDS)
        try:  # a new process, same answer: the key is really gone
            assert users.fold(await again.read("user-1"))["email"] == REDACTED
        finally:
            await again.close()
    finally:
        await store.close()
