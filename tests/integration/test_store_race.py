"""Writers race, a reader follows the global feed: nothing lost, duplicated or skipped."""

from workshop.store import MemoryEventStore, PostgresEventStore
from workshop.store.race import race


async def test_racing_writers_and_a_following_reader_on_postgres(ws_settings):
    store = await PostgresEventStore.open(ws_settings, max_size=12)
    try:
        report = await race(store, writers=10, appends=40, shared_streams=2, timeout=90)
    finally:
        await store.close()
    assert report.appended >= 10 * 40
    assert report.conflicts > 0, "the shared streams should have produced some conflicts"
    assert report.live_reads > 5, "the reader should have followed the feed while writers wrote"
    assert report.lost == 0 and report.duplicated == 0 and report.skipped == 0 and report.out_of_order == 0
    assert report.seen == report.committed == report.appended
    assert report.positions == list(range(1, report.committed + 1))  # dense: no holes either
    assert report.ok


async def test_racing_writers_on_the_memory_store():
    report = await race(MemoryEventStore(), writers=8, appends=30)
    assert report.ok and report.seen == report.appended


UNLOCKED = """
CREATE SEQUENCE IF NOT EXISTS {s}.position_seq;
CREATE OR REPLACE FUNCTION {s}.append_events_unlocked(p_stream text, p_expected integer, p_events jsonb)
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE v_current integer;
BEGIN
    SELECT coalesce(max(version), 0) INTO v_current FROM {s}.events WHERE stream_id = p_stream;
    IF p_expected IS NOT NULL AND p_expected <> v_current THEN
        RAISE EXCEPTION 'conflict' USING ERRCODE = 'ES409', DETAIL = v_current::text;
    END IF;
    BEGIN
        INSERT INTO {s}.events (position, stream_id, version, event_type, data, "timestamp", event_id, schema_version)
        SELECT nextval('{s}.position_seq'), p_stream, v_current + n, t, d, ts, id, 1
        FROM ROWS FROM (jsonb_to_recordset(p_events) AS (event_type text, data jsonb, "timestamp" timestamptz,
                                                        event_id text)) WITH ORDINALITY AS e(t, d, ts, id, n);
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION 'conflict' USING ERRCODE = 'ES409', DETAIL = (v_current + 1)::text;
    END;
    PERFORM pg_sleep(random() * 0.01);  -- commit a little later, as a busy server would
    RETURN v_current + jsonb_array_length(p_events);
END $fn$;
"""


async def test_the_race_catches_a_feed_numbered_by_a_sequence(ws_settings):
    """Control experiment: the same race against a bigserial-style feed (no lock) must show skips."""
    store = await PostgresEventStore.open(ws_settings, max_size=12)
    try:
        s = f'"{store.schema}"'
        async with store.pool.connection() as conn:
            await conn.execute(UNLOCKED.replace("{s}", s))
        store._sql_append = f"SELECT {s}.append_events_unlocked(%s, %s, %s::jsonb)"
        for _ in range(3):  # out-of-order commits are near certain in one round; allow three
            report = await race(store, writers=8, appends=30, timeout=90)
            if report.skipped:
                break
        assert report.lost == 0 and report.committed == report.appended  # the writers did their job …
        assert report.skipped > 0 and not report.ok  # … but the follower missed events for good
    finally:
        await store.close()
