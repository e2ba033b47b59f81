"""`workshop bench store` runs end to end (tiny sizes; the figures themselves are not asserted)."""

import json

import pytest

from workshop.bench import store as bench


@pytest.fixture(autouse=True)
def own_namespace(ws_settings, monkeypatch):
    """Run the benchmark in this test's namespace (it adds ``_bench`` and drops it afterwards)."""
    monkeypatch.setattr(bench, "settings", lambda: ws_settings)


def test_bench_store_prints_a_table_and_saves_json(tmp_path, capsys):
    import eventsourcing  # noqa: F401 - the bench extra; a missing peer must fail, not skip

    out = tmp_path / "bench.json"
    argv = ["--single", "20", "--batches", "3", "--events", "500", "--repeat", "1", "--rounds", "2", "--json", str(out)]
    assert bench.main(argv) == 0
    text = capsys.readouterr().out
    assert "single-event appends" in text and "eventsourcing" in text and "targets:" in text
    result = json.loads(out.read_text())
    assert result["ours"]["single_per_s"] > 0 and result["peer"]["rebuild_per_s"] > 0
    assert set(result["ratios"]["met"]) == {"single_ratio", "batch_events_per_s", "rebuild_ratio", "snapshot_speedup"}


def test_bench_store_without_the_peer(capsys):
    assert bench.main(["--no-peer", "--single", "5", "--batches", "1", "--events", "200", "--repeat", "1"]) == 0
    assert "—" in capsys.readouterr().out
