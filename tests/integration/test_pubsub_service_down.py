"""Chapter 2's notebook and exercises with Redis down stop at their first code cell with one line."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.conftest import ROOT


@pytest.mark.parametrize("path", ["notebooks/02_pubsub.ipynb", "solutions/02_pubsub.ipynb"])
def test_redis_down_fails_on_the_first_code_cell_with_one_line(monkeypatch, path):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    nb = nbformat.read(ROOT / path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    client = NotebookClient(
        nb, timeout=30, kernel_name="python3", resources={"metadata": {"path": str((ROOT / path).parent)}}
    )
    with pytest.raises(CellExecutionError):
        client.execute()
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    (error,) = [o for o in code_cells[0].outputs if o.output_type == "error"]
    assert error.ename == "ServiceUnavailable" and len(error.traceback) == 1
    assert "Redis is not reachable at redis://127.0.0.1:1/0" in error.traceback[0] and "Start it:" in error.traceback[0]
    assert "\n" not in error.traceback[0].strip()  # one entry, and that entry one line
    assert all(not c.get("outputs") for c in code_cells[1:]), "nothing after the failing cell ran"
