"""``npm ci``: the one way the course installs its few npm packages (the browser's Socket.IO client,
JupyterHub's proxy, the signaling tests' Node client) — from each folder's ``package-lock.json``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from workshop.errors import WorkshopError


def npm_ci(folder: Path, timeout: float = 180) -> None:
    """``npm ci`` in ``folder`` (its ``package-lock.json``); a one-line :class:`WorkshopError` if it fails."""
    npm = shutil.which("npm")
    if npm is None:
        raise WorkshopError("npm is not installed: install Node.js (apt-get install nodejs npm)")
    try:
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise WorkshopError(f"npm ci did not finish within {timeout:g} s (is the npm registry reachable?)") from None
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise WorkshopError(f"npm ci failed in {folder}: {last}")
