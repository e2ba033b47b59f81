"""The store contract on PostgreSQL, plus what only a database can promise."""

import psycopg
import pytest

from tests.store_contract import StoreContract, ev
from workshop.store import PostgresEventStore


@pytest.fixture
async def store(ws_settings):
    s = await PostgresEventStore.open(ws_settings)
    yield s
    await s.close()


class TestPostgresStore(StoreContract):
    pass


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE \"{s}\".events SET data = '{{}}'",
        'DELETE FROM "{s}".events',
        'TRUNCATE "{s}".events',
    ],
)
async def test_events_are_append_only(store, statement):
    await store.append("acc-1", [ev("acc-1", 1)], expected_version=0)
    async with store.pool.connection() as conn:
        with pytest.raises(psycopg.Error, match="append-only") as info:
            await conn.execute(statement.format(s=store.schema))
    assert info.value.sqlstate == "ES405"
    assert [e.data for e in await store.read("acc-1")] == [{"amount": 1}]


async def test_setup_is_idempotent(store, ws_settings):
    await store.append("acc-1", [ev("acc-1", 1)], expected_version=0)
    again = await PostgresEventStore.open(ws_settings)
    try:
        assert await again.version("acc-1") == 1
    finally:
        await again.close()


async def test_timestamps_come_back_as_utc_iso_strings(store):
    await store.append("acc-1", [ev("acc-1").replace(timestamp="2024-01-01T12:00:00+02:00")], expected_version=0)
    (e,) = await store.read("acc-1")
    assert e.timestamp == "2024-01-01T10:00:00+00:00"


async def test_a_pool_without_autocommit_is_refused(ws_settings):
    from workshop import connect

    pool = await connect.postgres_pool(ws_settings)
    try:
        with pytest.raises(ValueError, match="autocommit"):
            await PostgresEventStore.open(ws_settings, pool=pool)
    finally:
        await pool.close()


async def test_to_version_zero_reads_nothing(store):
    await store.append("acc-1", [ev("acc-1", 1)], expected_version=0)
    assert await store.read("acc-1", to_version=0) == []


async def test_utc_timestamps_round_trip_as_the_same_string(store):
    sent = [ev("acc-1", i) for i in range(3)] + [ev("acc-1").replace(timestamp="2024-01-01T10:00:00.000001+00:00")]
    await store.append("acc-1", sent, expected_version=0)
    assert [e.timestamp for e in await store.read("acc-1")] == [e.timestamp for e in sent]
    assert [r.event.timestamp for r in await store.read_all()] == [e.timestamp for e in sent]
