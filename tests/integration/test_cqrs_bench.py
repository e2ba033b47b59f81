"""``workshop bench cqrs`` runs end to end at a tiny size, prints its table and saves its JSON."""

from __future__ import annotations

import json

import pytest

from workshop.bench import cqrs


@pytest.mark.timeout(240)
def test_the_cqrs_bench_prints_its_table_and_saves_json(tmp_path, capsys, monkeypatch, namespace):
    monkeypatch.setenv("WORKSHOP_NAMESPACE", namespace.name)
    out = tmp_path / "cqrs.json"
    argv = ["--events", "400", "--commands", "20", "--lag-seconds", "0.2", "--pairs", "2", "--json", str(out)]
    assert cqrs.main(argv) == 0
    printed = capsys.readouterr().out
    for row in (
        "commands through the write API (HTTP)",
        "p99 lag, command → visible",
        "projection into the users table",
        "blue/green rebuild",
        "8 HTTP clients at once",
        "a command's cost per layer",
        "users_v1's lag, split",
        "activity's lag, split",
    ):
        assert row in printed
    assert "unstable" in printed  # two pairs are too few to judge a target
    result = json.loads(out.read_text())
    assert result["events"] >= 400 and result["ceilings"]["read_all_events_per_s"] > 0
    assert set(result["ratios"]) == {
        "commands_vs_single_append",
        "commands_8_clients_vs_single_append",
        "lag_p99_vs_round_trip_p99",
        "projection_vs_read_all",
        "rebuild_vs_read_all",
    }
    assert all(v > 0 for v in result["ratios"].values())
    assert [f["runs"] for f in result["pairs_report"]] == [2, 2, 2, 2]
    assert all(f["verdict"] in (None, "unstable") for f in result["pairs_report"])
    assert set(result["figures"]["lag_split_ms"]["users_v1"]) >= {"relay wake-up", "publish", "read", "commit"}
