"""`workshop bench bus --quick` prints its table and saves JSON (numbers are reported, never asserted)."""

from __future__ import annotations

import json

import pytest

from workshop.bench import bus as bench


@pytest.mark.timeout(180)
def test_bench_prints_a_table_and_saves_json(tmp_path, capsys):
    out = tmp_path / "bus.json"
    assert bench.main(["--quick", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split() == ["benchmark", "count", "seconds", "rate", "vs", "course"]
    assert "course: connection per publish" in text and "end to end: orders through 5 services" in text
    saved = json.loads(out.read_text())
    assert [r["name"].split(":")[0] for r in saved["results"]] == [
        "course",
        "package",
        "package",
        "package",
        "aio-pika alone",
        "aio-pika alone",
        "end to end",
    ]
    assert all(r["rate"] > 0 for r in saved["results"])
    assert len(saved["targets"]) == 2
