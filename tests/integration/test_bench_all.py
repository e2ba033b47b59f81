"""``workshop bench all`` with the tiniest sizes: the report's shape, never its timings."""

from __future__ import annotations

import json

import pytest

from workshop.bench import all as bench_all
from workshop.bench import available


@pytest.mark.timeout(420)
def test_bench_all_tiny_writes_json_and_markdown(tmp_path, capsys):
    out, md = tmp_path / "all.json", tmp_path / "all.md"
    code = bench_all.main(["--quick", "--scale", "0.02", "--runs", "1", "--json", str(out), "--markdown", str(md)])
    report = json.loads(out.read_text())
    assert report["errors"] == {} and code == 0
    benches = [n for n in available() if n != "all"]
    assert set(report["seconds"]) == set(benches)
    assert report["machine"] and report["date"] and report["size"] == "quick"
    chapters = {f["chapter"] for f in report["figures"]}
    assert {"1 bus", "2 pub/sub", "3 event store", "4 CQRS", "5 WebRTC"} <= chapters
    for f in report["figures"]:
        assert f["runs"] == 1 and f["value"]["min"] <= f["value"]["median"] <= f["value"]["max"]
        if f["baseline"]:
            assert f["ratio"]["median"] > 0 and f["baseline_value"]["median"] > 0
    table = md.read_text()
    assert table.count("\n| ") == len(report["figures"]) + 2  # header, rule, one row per figure
    assert "aio-pika alone" in table and "redis-py alone" in table
    assert table.splitlines()[0] in capsys.readouterr().out
