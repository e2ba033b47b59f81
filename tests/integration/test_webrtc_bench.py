"""`workshop bench webrtc --quick` prints its table and saves JSON (numbers are reported, never asserted)."""

from __future__ import annotations

import json

import pytest

from workshop.bench import webrtc as bench


@pytest.mark.timeout(120)
def test_bench_prints_a_table_and_saves_json(tmp_path, capsys):
    out = tmp_path / "webrtc.json"
    assert bench.main(["--quick", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split() == ["benchmark", "result", "vs", "spread"]
    saved = json.loads(out.read_text())
    names = [r["name"] for r in saved["results"]]
    assert names[:3] == [
        "set-up: bare aiortc (ceiling)",
        "set-up: host via signaling",
        "set-up: relay (TURN) via signaling",
    ]
    assert any(n.startswith("frames/s received") for n in names) and "signaling relay, one way" in names
    assert all(r["value"] > 0 for r in saved["results"])
    assert saved["results"][2]["relayed"] is True  # the relay row really went through coturn
    relay, bare = saved["results"][2], saved["results"][0]
    assert len(relay["values"]) == len(bare["values"]) == 5  # quick: five interleaved pairs, each judged
    ratios = sorted(v / b for v, b in zip(relay["values"], bare["values"]))
    assert relay["vs_bare"] == ratios[2] and relay["verdict"] in ("met", "missed", "unstable")
    assert len(saved["targets"]) == 5
