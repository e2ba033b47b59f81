"""Every notebook in notebooks/ and solutions/ runs top to bottom **twice in the same kernel**.

A learner re-runs a notebook after an error, or runs it again the next morning without
restarting the kernel: the second run must work too (each notebook resets its own namespace
and closes what it opened). This is the costliest test of the suite — two runs of every
notebook — so it reports each notebook's time and the total when the module ends.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted([*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("solutions/*.ipynb")])

pytestmark = pytest.mark.notebooks


@pytest.fixture(scope="module")
def timings(request):
    spent: dict[str, float] = {}
    yield spent
    if spent:  # shown even under -q and output capture
        lines = [f"re-run test: {name} twice in {seconds:.0f} s" for name, seconds in spent.items()]
        lines.append(f"re-run test: {len(spent)} notebooks, {sum(spent.values()):.0f} s in all")
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled():
            print("\n" + "\n".join(lines))


def run_twice(path: Path, timeout: int = 300) -> None:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    with client.setup_kernel():
        for _ in range(2):
            for index, cell in enumerate(nb.cells):
                if cell.cell_type == "code":
                    client.execute_cell(cell, index)  # raises CellExecutionError unless tagged raises-exception


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_runs_twice_in_one_kernel(path, timings):
    start = time.perf_counter()
    run_twice(path)
    timings[f"{path.parent.name}/{path.name}"] = time.perf_counter() - start
