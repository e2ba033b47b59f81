"""`workshop bench pubsub` at tiny sizes prints its table and saves JSON (numbers reported, never asserted)."""

from __future__ import annotations

import json

import pytest

from workshop.bench import available
from workshop.bench import pubsub as bench


@pytest.mark.timeout(180)
def test_bench_prints_a_table_and_saves_json(tmp_path, capsys):
    assert "pubsub" in available()
    out = tmp_path / "pubsub.json"
    assert bench.main(["--quick", "--scale", "0.1", "--pairs", "2", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split() == ["benchmark", "count", "seconds", "rate", "vs", "server"]
    saved = json.loads(out.read_text())
    names = [r["name"] for r in saved["results"] if r.get("pair") == 0]
    assert names == [
        "package: delivered to 2 subscribers",
        "redis-py alone: delivered to 2 subscribers",
        "package: publish, pipelined",
        "package: publish, one per round trip",
        "package: Streams XADD, pipelined",
        "package: Streams group consume + XACK",
        "redis-py alone: Streams group consume + XACK",
    ]
    second = [r["name"] for r in saved["results"] if r.get("pair") == 1]
    assert second[:2] == names[:2][::-1]  # the next round flips each pair's order
    rest = [r["name"] for r in saved["results"] if "pair" not in r]
    assert rest == ["redis-benchmark: PUBLISH, -P 16", "redis-benchmark: XADD, -P 16"]  # redis-tools is here
    assert all(r["rate"] > 0 for r in saved["results"])
    targets = {f["figure"]: f["target"] for f in saved["figures"] if f["target"]}
    assert targets == {"delivered to 2 subscribers": 0.9, "publish, pipelined": 5, "Streams group consume + XACK": 0.9}
    assert all(f["runs"] == 2 for f in saved["figures"] if f["target"])
