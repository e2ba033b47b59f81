"""`workshop bench pubsub` at tiny sizes prints its table and saves JSON (numbers reported, never asserted)."""

from __future__ import annotations

import json

import pytest

from workshop.bench import available
from workshop.bench import pubsub as bench


@pytest.mark.timeout(120)
def test_bench_prints_a_table_and_saves_json(tmp_path, capsys):
    assert "pubsub" in available()
    out = tmp_path / "pubsub.json"
    assert bench.main(["--quick", "--scale", "0.1", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split() == ["benchmark", "count", "seconds", "rate", "vs", "server"]
    saved = json.loads(out.read_text())
    names = [r["name"] for r in saved["results"]]
    assert names[:7] == [
        "package: delivered to 2 subscribers",
        "redis-py alone: delivered to 2 subscribers",
        "package: publish, one per round trip",
        "package: publish, pipelined",
        "package: Streams XADD, pipelined",
        "package: Streams group consume + XACK",
        "redis-py alone: Streams group consume + XACK",
    ]
    assert names[7:] == ["redis-benchmark: PUBLISH, -P 16", "redis-benchmark: XADD, -P 16"]  # redis-tools is here
    assert all(r["rate"] > 0 for r in saved["results"])
    assert [t["target"].split(" (")[0] for t in saved["targets"]] == [
        "delivered rate >= 0.9x bare redis-py's",
        "pipelined publishing >= 5x one per round trip",
    ]
    assert all(line.startswith(("PASS", "MISS")) for line in text.splitlines() if ">=" in line)
