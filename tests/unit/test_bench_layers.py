"""``workshop bench layers``: the per-layer cost table's shape (never its timings)."""

from __future__ import annotations

import json

from workshop.bench import layers


def test_every_layer_is_timed_and_tabled(tmp_path, capsys):
    rows = layers.measure(number=5, repeat=2)
    assert [(r["side"], r["layer"]) for r in rows][:2] == [("publish", "envelope"), ("publish", "validation")]
    assert {"aio-pika alone", "JSON encode", "decode + validation", "ack bookkeeping"} <= {r["layer"] for r in rows}
    assert all(0 < r["us_min"] <= r["us"] for r in rows)
    table = layers.table(rows).splitlines()
    assert len(table) == len(rows) + 2 and table[0].startswith("| side | layer |")
    out = tmp_path / "layers.json"
    assert layers.main(["--quick", "--repeat", "1", "--json", str(out)]) == 0
    assert [r["layer"] for r in json.loads(out.read_text())["results"]] == [r["layer"] for r in rows]
    assert "| publish | envelope |" in capsys.readouterr().out
