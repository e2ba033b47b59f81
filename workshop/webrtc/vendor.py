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
from pathlib import Path

from workshop.infra.npm import npm_ci

HERE = Path(__file__).resolve().parent
PACKAGE = HERE / "node_modules" / "socket.io-client"
FILES = {  # npm package file -> file in static/
    "dist/socket.io.min.js": "socket.io.min.js",
    "dist/socket.io.min.js.map": "socket.io.min.js.map",  # the script names it: without it, a 404 in DevTools
    "LICENSE": "socket.io-client.LICENSE",
}


def npm_install(timeout: float = 180) -> Path:
    """``npm ci`` in this folder (when ``node_modules`` is missing); return the package's folder."""
    if not (PACKAGE / "package.json").is_file():
        npm_ci(HERE, timeout)
    return PACKAGE


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
