"""The key-store contract (``tests/keystore_contract.py``) on PostgresKeyStore, plus what only a table gives."""

import pytest

from tests.keystore_contract import KeyStoreContract
from workshop import connect
from workshop.store.crypto import PostgresKeyStore
from workshop.store.postgres import pool_kwargs


@pytest.fixture
async def pool(ws_settings):
    pool = await connect.postgres_pool(ws_settings, max_size=10, kwargs=pool_kwargs())
    async with pool.connection() as conn:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{ws_settings.namespace.schema}"')
    yield pool
    await pool.close()


@pytest.fixture
async def keys(pool, ws_settings):
    keys = PostgresKeyStore(pool, ws_settings.namespace.schema)
    await keys.setup()
    return keys


class TestPostgresKeyStore(KeyStoreContract):
    pass


async def test_keys_outlive_the_process_and_setup_is_idempotent(pool, ws_settings, keys):
    key = await keys.get_or_create("user-1")
    again = PostgresKeyStore(pool, ws_settings.namespace.schema)  # "a new process" on the same table
    await again.setup()
    assert await again.get("user-1") == key
    await again.delete("user-1")
    assert await keys.get("user-1") is None
