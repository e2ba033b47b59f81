"""The shared report shape of ``workshop bench all``: figures next to their baselines, over runs."""

from __future__ import annotations

import asyncio
import json
import sys
import types

import pytest

from workshop.bench import _report
from workshop.bench import all as bench_all
from workshop.bench._report import Figure, paired


def test_a_figure_reports_pairs_spread_and_median_ratio_to_its_baseline():
    f = Figure("1 bus", "consume", "msg/s", "aio-pika alone", target=0.9)
    for value, base in ((900, 1000), (800, 1000), (1000, 1000), (950, 1000), (980, 1000)):
        f.add(value, base)
    d = f.as_dict()
    assert d["runs"] == 5
    assert d["value"] == pytest.approx({"min": 800, "q1": 900, "median": 950, "q3": 980, "max": 1000})
    assert d["ratio"] == pytest.approx({"min": 0.8, "q1": 0.9, "median": 0.95, "q3": 0.98, "max": 1.0})
    assert d["met"] is True and d["verdict"] == "met"  # the target is the first quartile: not inside it
    f.add(100, 1000)
    f.add(120, 1000)
    d = f.as_dict()  # ratios 0.1 0.12 0.8 0.9 0.95 0.98 1.0: q1 0.46 < 0.9 < q3 0.965
    assert d["verdict"] == "unstable" and d["met"] is None


def test_the_rule_judges_the_median_when_the_middle_half_is_on_one_side():
    assert _report.judge([0.5, 0.6, 0.62, 0.7, 1.4], 0.9) == "missed"  # q3 0.7 < 0.9: one wild pair is not enough
    assert _report.judge([0.95, 1.0, 1.1, 1.2, 0.3], 0.9) == "met"  # q1 0.95 > 0.9
    assert _report.judge([0.7, 0.85, 0.9, 0.95, 1.1], 0.9) == "unstable"  # q1 0.85 < 0.9 < q3 0.95
    assert _report.judge([0.8, 0.85, 0.88, 0.95, 1.1], 0.9) == "unstable"  # the median misses, but the noise is wider
    assert _report.judge([1.0, 1.0, 1.0, 1.0], 0.9) == "unstable"  # four pairs are too few, however tight
    assert _report.judge([], 0.9) is None and _report.judge([1.0] * 5, None) is None


def test_lower_is_better_flips_the_target():
    fast = [0.3 / 0.2, 0.32 / 0.2, 0.28 / 0.2, 0.3 / 0.21, 0.31 / 0.2]
    assert _report.judge(fast, 2.0, higher_is_better=False) == "met"
    assert _report.judge([r * 2 for r in fast], 2.0, higher_is_better=False) == "missed"
    f = Figure("5 WebRTC", "set-up", "s", "bare aiortc", higher_is_better=False, target=2.0)
    for a, b in ((0.5, 0.2), (0.5, 0.21), (0.52, 0.2), (0.49, 0.2), (0.5, 0.19)):
        f.add(a, b)
    assert f.verdict() == "missed" and f.met() is False


def test_a_figure_measured_once_is_never_judged():
    f = Figure("4 CQRS", "p99 lag", "ms", "bus round trip", higher_is_better=False, target=10)
    f.add(5, 1)
    assert f.verdict() == "unstable" and f.met() is None


def test_a_figure_without_baseline_has_no_ratio():
    f = Figure("1 bus", "orders", "orders/s")
    f.add(12.0)
    d = f.as_dict()
    assert d["ratio"] is None and d["met"] is None and d["baseline_value"] is None and d["verdict"] is None


def test_markdown_has_one_row_per_figure_with_median_ratio_spread_and_verdict():
    a = Figure("1 bus", "consume", "msg/s", "aio-pika alone", target=0.9)
    for value in (960, 860, 950, 940, 990):
        a.add(value, 1000)
    b = Figure("3 event store", "rebuild", "events/s")
    b.add(5000)
    c = Figure("2 pub/sub", "delivered", "msg/s", "redis-py alone", target=0.9)
    for value in (700, 850, 900, 950, 1100):
        c.add(value, 1000)
    table = _report.markdown([a.as_dict(), b.as_dict(), c.as_dict()])
    lines = table.splitlines()
    assert len(lines) == 5 and lines[0].startswith("| chapter |")
    assert "| 1 bus | consume | 5 |" in lines[2] and "0.95x (0.94–0.96x)" in lines[2] and "≥ 0.9x ✓" in lines[2]
    assert "| 3 event store | rebuild | 1 | 5,000 events/s | — | — | — |" == lines[3]
    assert "0.90x (0.85–0.95x)" in lines[4] and lines[4].endswith("≥ 0.9x unstable |")


def test_a_bench_without_adapter_is_run_with_quick_json_and_its_vs_rows_count(monkeypatch):
    calls = []

    def main(argv):
        calls.append(argv)
        path = argv[argv.index("--json") + 1]
        json.dump(
            {
                "results": [
                    {"name": "projection lag", "value": 2.0, "unit": "s", "vs_bare": 4.0},
                    {"name": "no ratio", "value": 1.0, "unit": "s"},
                ]
            },
            open(path, "w"),
        )
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


def test_paired_keeps_each_sides_fastest_run_and_gives_rows_in_the_order_run():
    log: list[str] = []
    seconds = {"a": iter([2.0, 1.0]), "b": iter([0.5, 4.0])}

    def make(name: str):
        async def run() -> tuple[float, float]:
            log.append(name)
            return next(seconds[name]), 0.1

        return run

    async def before() -> None:
        log.append("purge")

    rows = asyncio.run(
        paired(("a", 10, make("a"), "messages"), ("b", 10, make("b"), "entries"), a_first=False, before=before)
    )
    assert log == ["purge", "b", "purge", "a", "purge", "b", "purge", "a"]
    assert [(r["name"], r["seconds"], r["unit"]) for r in rows] == [("b", 0.5, "entries"), ("a", 1.0, "messages")]
