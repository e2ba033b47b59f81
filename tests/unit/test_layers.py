"""The layers of ``workshop/`` point down only, and nothing imports its way back to itself.

The contracts are in ``pyproject.toml`` (``[tool.importlinter]``) and drawn in
``docs/architecture.md``; import-linter checks them on the real import graph.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_contracts_cover_every_layer_and_cycles():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    kinds = {c["type"] for c in config["contracts"]}
    assert kinds == {"layers", "acyclic_siblings"}
    layers = next(c for c in config["contracts"] if c["type"] == "layers")
    assert layers["exhaustive"] is True  # a new module must be given a layer
    assert len(layers["layers"]) == 4  # tooling, chapters, ports, foundation


def test_no_import_points_up_and_no_cycle():
    done = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    broken = done.stdout[done.stdout.find("Broken contracts") :] if "Broken contracts" in done.stdout else done.stdout
    assert done.returncode == 0, broken[-3000:] + done.stderr[-1000:]
    assert "2 kept, 0 broken" in done.stdout
