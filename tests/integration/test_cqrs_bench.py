"""``workshop bench cqrs`` runs end to end at a tiny size, prints its table and saves its JSON."""

from __future__ import annotations

import json

import pytest

from workshop.bench import cqrs


@pytest.mark.timeout(240)
def test_the_cqrs_bench_prints_its_table_and_saves_json(tmp_path, capsys, monkeypatch, namespace):
    monkeypatch.setenv("WORKSHOP_NAMESPACE", namespace.name)
    out = tmp_path / "cqrs.json"
    assert cqrs.main(["--events", "400", "--commands", "20", "--lag-seconds", "0.2", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    for row in (
        "commands/s, write API (HTTP, 1 client)",
        "8 clients at once",
        "p99 lag ms",
        "projection events/s",
        "rebuild events/s",
    ):
        assert row in printed
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
