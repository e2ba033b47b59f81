"""`workshop bench bus --quick` prints its table and saves JSON (numbers are reported, never asserted)."""

from __future__ import annotations

import json

import pytest

from workshop.bench import bus as bench


@pytest.mark.timeout(300)
def test_bench_prints_a_table_and_saves_json(tmp_path, capsys):
    out = tmp_path / "bus.json"
    assert bench.main(["--quick", "--pairs", "2", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split() == ["benchmark", "count", "seconds", "rate", "vs", "course"]
    assert "course: connection per publish" in text and "end to end: orders through 5 services" in text
    saved = json.loads(out.read_text())
    paired = [r for r in saved["results"] if "pair" in r]
    assert [r["pair"] for r in paired] == [0] * 6 + [1] * 6  # every round measures every pair
    # adjacent A/B pairs, the order flipping from one round to the next
    names = [r["name"] for r in paired]
    assert names[:2] == ["package: one channel, await each confirm", "course: connection per publish"]
    assert names[6:8] == ["course: connection per publish", "package: one channel, await each confirm"]
    assert [r["name"] for r in saved["results"] if "pair" not in r] == ["end to end: orders through 5 services"]
    assert all(r["rate"] > 0 for r in saved["results"])
    figures = {f["figure"]: f for f in saved["figures"]}
    for name in ("publish, confirms in flight (publish_many)", "consume + ack, prefetch 500"):
        assert figures[name]["runs"] == 2 and figures[name]["target"] == 0.9
        assert figures[name]["verdict"] == "unstable"  # two pairs are too few to judge
        twin = figures[f"{name}, per CPU second"]  # the same pairs in messages per CPU second of this process
        assert twin["runs"] == 2 and twin["unit"] == "msg/CPU-s" and twin["target"] is None
    assert all(r["cpu_s"] > 0 for r in paired)
