"""The shared report shape of ``workshop bench all``: figures next to their baselines, over runs."""

from __future__ import annotations

import json
import sys
import types

import pytest

from workshop.bench import _report, all as bench_all
from workshop.bench._report import Figure


def test_a_figure_reports_runs_spread_and_ratio_to_its_baseline():
    f = Figure("1 bus", "consume", "msg/s", "aio-pika alone", target=0.9)
    for value, base in ((900, 1000), (800, 1000), (1000, 1000)):
        f.add(value, base)
    d = f.as_dict()
    assert d["runs"] == 3
    assert d["value"] == {"min": 800, "median": 900, "max": 1000}
    assert d["ratio"] == pytest.approx({"min": 0.8, "median": 0.9, "max": 1.0})
    assert d["met"] is True
    f.add(100, 1000)
    assert f.as_dict()["met"] is False  # median of 0.1, 0.8, 0.9, 1.0 is 0.85


def test_lower_is_better_flips_the_target():
    f = Figure("5 WebRTC", "set-up", "s", "bare aiortc", higher_is_better=False, target=2.0)
    f.add(0.3, 0.2)
    assert f.as_dict()["met"] is True
    f2 = Figure("5 WebRTC", "set-up", "s", "bare aiortc", higher_is_better=False, target=2.0)
    f2.add(0.5, 0.2)
    assert f2.as_dict()["met"] is False


def test_a_figure_without_baseline_has_no_ratio():
    f = Figure("1 bus", "orders", "orders/s")
    f.add(12.0)
    d = f.as_dict()
    assert d["ratio"] is None and d["met"] is None and d["baseline_value"] is None


def test_markdown_has_one_row_per_figure_with_ratio_and_runs():
    a = Figure("1 bus", "consume", "msg/s", "aio-pika alone", target=0.9)
    a.add(960, 1000)
    a.add(860, 1000)
    b = Figure("3 event store", "rebuild", "events/s")
    b.add(5000)
    table = _report.markdown([a.as_dict(), b.as_dict()])
    lines = table.splitlines()
    assert len(lines) == 4 and lines[0].startswith("| chapter |")
    assert "| 1 bus | consume | 2 |" in lines[2] and "0.91x (0.86x–0.96x)" in lines[2] and "≥ 0.9x ✓" in lines[2]
    assert "| 3 event store | rebuild | 1 | 5,000 events/s | — | — | — |" == lines[3]


def test_a_bench_without_adapter_is_run_with_quick_json_and_its_vs_rows_count(monkeypatch):
    calls = []

    def main(argv):
        calls.append(argv)
        path = argv[argv.index("--json") + 1]
        json.dump({"results": [{"name": "projection lag", "value": 2.0, "unit": "s", "vs_bare": 4.0},
                               {"name": "no ratio", "value": 1.0, "unit": "s"}]}, open(path, "w"))
        print("a table nobody sees")
        return 0

    monkeypatch.setitem(sys.modules, "workshop.bench.cqrs", types.SimpleNamespace(main=main))
    figs: dict = {}
    bench_all.generic("cqrs", figs)
    assert calls and calls[0][:2] == ["--quick", "--json"]
    [fig] = [f.as_dict() for f in figs.values()]
    assert fig["chapter"] == "4 CQRS" and fig["baseline"] == "bare"
    assert fig["baseline_value"]["median"] == pytest.approx(0.5) and fig["ratio"]["median"] == pytest.approx(4.0)


def test_bad_arguments_exit_with_a_message(capsys):
    with pytest.raises(SystemExit):
        bench_all.main(["--only", "nosuch"])
    assert "unknown benchmark(s) nosuch" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench_all.main(["--scale", "0"])
