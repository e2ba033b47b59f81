"""The course's store as written (store/course.py), measured: the bugs are real, and the fixes fix them."""

from workshop.store import PostgresEventStore
from workshop.store.course import feed_gap_demo, feed_gap_fixed, measure_naive
from workshop.users.race import measure_with_expected_version


async def test_read_then_insert_loses_appends_under_concurrency(ws_settings):
    r = await measure_naive(ws_settings, writers=4, appends=30)
    assert r.failed > 0 and r.stored + r.failed == r.attempted
    assert r.duplicate_rows == 0  # the UNIQUE constraint turned corruption into loss


async def test_without_the_constraint_versions_are_silently_duplicated(ws_settings):
    r = await measure_naive(ws_settings, writers=4, appends=30, unique=False)
    assert r.failed == 0 and r.stored == r.attempted
    assert r.duplicate_rows > 0 and r.distinct_versions < r.stored


async def test_expected_version_with_retries_loses_nothing(ws_settings):
    store = await PostgresEventStore.open(ws_settings)
    try:
        r = await measure_with_expected_version(store, writers=4, appends=20)
    finally:
        await store.close()
    assert r.lost == 0 and r.stored == 80 and r.versions_ok
    assert r.conflicts > 0  # the race happened; the retries absorbed it


async def test_serial_feed_skips_an_event_committed_late(ws_settings):
    r = await feed_gap_demo(ws_settings)
    assert r == {"first_read": [2], "second_read": [], "table": [1, 2], "skipped": [1]}


async def test_our_feed_makes_the_second_writer_wait(ws_settings):
    store = await PostgresEventStore.open(ws_settings)
    try:
        r = await feed_gap_fixed(store)
    finally:
        await store.close()
    assert r == {"b_waited": True, "first_read": [], "second_read": [1, 2], "streams": ["user-a", "user-b"]}
