"""The package reads as one house: ruff's lint and format check, and mypy on ``workshop/``, clean.

Settings live in ``pyproject.toml`` (``[tool.ruff]``, ``[tool.mypy]``); fix with
``ruff check --fix . && ruff format .`` and read mypy's message for the rest.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / argv[0]), *argv[1:]], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(
    "argv",
    [("ruff", "check", "--no-cache", "."), ("ruff", "format", "--check", "--no-cache", ".")],
    ids=["ruff-check", "ruff-format"],
)
def test_ruff_is_clean(argv):
    done = _run(*argv)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]


def test_mypy_is_clean_on_the_package():
    done = _run("mypy", "--no-incremental")
    assert done.returncode == 0, done.stdout[-3000:]
    assert "Success: no issues found" in done.stdout
