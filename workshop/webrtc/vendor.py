"""The browser page's Socket.IO client: installed from npm, served from ``static/`` (never a CDN).

``package.json`` next to this file pins ``socket.io-client``; this step installs it
with npm (from ``package-lock.json``) and copies the browser build and its licence
into ``static/``, where the signaling server serves them at ``/client/``::

    python -m workshop.webrtc.vendor          # after changing the version in package.json

The copies are committed so that ``pip install`` alone gives a working page;
``tests/unit/test_webrtc_signaling_parts.py`` fails when they differ from what npm installed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from workshop.errors import WorkshopError

HERE = Path(__file__).resolve().parent
PACKAGE = HERE / "node_modules" / "socket.io-client"
FILES = {  # npm package file -> file in static/
    "dist/socket.io.min.js": "socket.io.min.js",
    "LICENSE": "socket.io-client.LICENSE",
}


def npm_install(timeout: float = 180) -> Path:
    """``npm ci`` in this folder (when ``node_modules`` is missing); return the package's folder."""
    if not (PACKAGE / "package.json").is_file():
        npm_ci(HERE, timeout)
    return PACKAGE


def npm_ci(folder: Path, timeout: float = 180) -> None:
    """``npm ci`` in ``folder`` (its ``package-lock.json``); a one-line :class:`WorkshopError` if it fails."""
    npm = shutil.which("npm")
    if npm is None:
        raise WorkshopError("npm is not installed: install Node.js (apt-get install nodejs npm)")
    try:
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=folder, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise WorkshopError(f"npm ci did not finish within {timeout:g} s (is the npm registry reachable?)") from None
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise WorkshopError(f"npm ci failed in {folder}: {last}")


def vendor() -> list[Path]:
    """Copy the npm-installed browser client into ``static/``; return the files written."""
    package = npm_install()
    written = []
    for source, target in FILES.items():
        dest = HERE / "static" / target
        dest.parent.mkdir(exist_ok=True)
        shutil.copyfile(package / source, dest)
        written.append(dest)
    return written


if __name__ == "__main__":
    for path in vendor():
        print(f"wrote {path}")
