"""The second run (second_run.py) is real: a notebook that works once and breaks when re-run fails."""

from __future__ import annotations

import subprocess
import sys

import nbformat

from tests.notebooks.second_run import SECOND


def _notebook(path, first_cell: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell(first_cell, execution_count=1)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hello\n")]
    nb.cells = [cell]
    nbformat.write(nb, path)


def _pytest(path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(path.parent)]
        + ["-c", "/dev/null", "--nbval", "--nbval-current-env", "-p", "tests.notebooks.second_run", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_notebook_that_breaks_on_its_second_run_fails(tmp_path):
    path = tmp_path / "once.ipynb"
    _notebook(path, "assert 'seen' not in globals(), 'not re-runnable'\nseen = True\nprint('hello')")
    done = _pytest(path)
    assert done.returncode == 1, done.stdout[-2000:]
    assert f"once.ipynb::Cell 0{SECOND}" in done.stdout, done.stdout[-2000:]
    assert "1 failed, 1 passed" in done.stdout, done.stdout[-2000:]


def test_a_rerunnable_notebook_passes_both_runs(tmp_path):
    path = tmp_path / "twice.ipynb"
    _notebook(path, "seen = True\nprint('hello')")
    done = _pytest(path)
    assert done.returncode == 0 and "2 passed" in done.stdout, done.stdout[-2000:]
