"""A notebook whose service is down stops at its first cell with one line, not a trace."""

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.conftest import ROOT


def test_warmup_with_redis_down_fails_on_the_first_code_cell_with_one_line(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    nb = nbformat.read(ROOT / "solutions" / "00_warmup.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    client = NotebookClient(
        nb, timeout=30, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "solutions")}}
    )
    with pytest.raises(CellExecutionError):
        client.execute()
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for o in code_cells[0].outputs if o.output_type == "error"]
    assert errors, "the first code cell should be the one that fails"
    (error,) = errors
    assert error.ename == "ServiceUnavailable"
    assert len(error.traceback) == 1, f"expected one line, got {len(error.traceback)}"
    line = error.traceback[0]
    assert "\n" not in line.strip(), line
    assert "Redis is not reachable at redis://127.0.0.1:1/0" in line and "Start it:" in line
    assert all(not c.get("outputs") for c in code_cells[1:]), "nothing after the failing cell ran"
