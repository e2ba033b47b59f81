"""Every notebook in notebooks/ and solutions/ runs top to bottom **twice in the same kernel**.

A learner re-runs a notebook after an error, or runs it again the next morning without
restarting the kernel: the second run must work too (each notebook resets its own namespace
and closes what it opened).

nbval runs the first pass, one test per code cell, comparing each cell's outputs with the
stored ones. This plugin (loaded by the root ``conftest.py``, so ``pytest notebooks/x.ipynb``
gets it too) appends a second pass after a notebook's last cell, in nbval's same kernel:
``Cell 3, second run`` must raise nothing (unless tagged ``raises-exception``, as in the first
pass), but its outputs are not compared — a second run may rightly say "already there".
Two executions of each notebook, not three: a separate re-run test would execute it again.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from nbval.plugin import IPyNbCell

SECOND = ", second run"


def _second_run(cells: list[IPyNbCell]) -> list[IPyNbCell]:
    copies = []
    for cell in cells:
        options = defaultdict(bool, cell.options)
        options["check"] = False
        copies.append(
            IPyNbCell.from_parent(
                cell.parent, name=f"{cell.name}{SECOND}", cell_num=cell.cell_num, cell=cell.cell, options=options
            )
        )
    return copies


@pytest.hookimpl(tryfirst=True)  # before markers and -k: the copies are items like the others
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    ordered: list[pytest.Item] = []
    notebook: list[IPyNbCell] = []
    for item in items:
        if notebook and not (isinstance(item, IPyNbCell) and item.parent is notebook[0].parent):
            ordered += _second_run(notebook)
            notebook = []
        if isinstance(item, IPyNbCell) and not item.name.endswith(SECOND):
            notebook.append(item)
        ordered.append(item)
    ordered += _second_run(notebook)
    items[:] = ordered


_spent: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Each notebook's time, per run: docs/instructor.md's timings come from this summary."""
    if report.when == "call" and ".ipynb::" in report.nodeid:
        notebook, cell = report.nodeid.split("::", 1)
        _spent[notebook][cell.endswith(SECOND)] += report.duration


def pytest_terminal_summary(terminalreporter) -> None:
    if _spent:
        lines = [f"{nb}: {first:.0f} s, second run {second:.0f} s" for nb, (first, second) in _spent.items()]
        total = sum(sum(runs) for runs in _spent.values())
        terminalreporter.write_sep("-", f"notebooks: {len(_spent)}, both runs {total:.0f} s")
        terminalreporter.write_line("\n".join(lines))
