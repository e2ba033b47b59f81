"""The side-by-side table: every way, every property, measured rates last so they sanitise cleanly."""

from __future__ import annotations

import re

from workshop.pubsub import compare


def test_the_table_lists_each_way_and_each_property():
    text = compare.table({"Redis pub/sub": 1234.5, "Redis Streams": 99.0, "RabbitMQ queues": 10.0})
    header, rule, *rows, measured = text.splitlines()
    assert all(way in header for way in compare.WAYS)
    assert [r.split("  ")[0] for r in rows] == [g[0] for g in compare.GUARANTEES]
    assert "at most once" in rows[0] and "at least once" in rows[0]
    assert measured.endswith("RabbitMQ queues: 10 msg/s") and "Redis pub/sub: 1,234 msg/s" in measured
    sanitised = re.sub(r"[\d,]+(\.\d+)?\s?(events|msg|messages|orders|appends)/s", "RATE", measured)
    assert not re.search(
        r"\d", sanitised.split("consumers", 1)[1]
    )  # tests/notebooks/sanitize.cfg's [rate] hides every number


def test_without_rates_there_is_no_measured_row():
    assert "measured" not in compare.table()
