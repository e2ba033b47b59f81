"""``workshop lab``: start JupyterLab on the course, on port 8888 or the next free one.

The server's own log goes to ``<state dir>/jupyter.log``; once the server
answers, the URL (with its one-time token) is printed in a box — the last
thing on screen, so it cannot scroll away. Ctrl-C stops the server.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys

from workshop.config import repo_root, state_dir
from workshop.process import Server, free_port, http_ok

READY_TIMEOUT = 120  # seconds: a first start on a busy machine builds caches


def box(*lines: str) -> str:
    bar = "=" * (max(map(len, lines)) + 4)
    return "\n".join([bar, *(f"  {line}" for line in lines), bar])


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="workshop lab", description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=8888, help="first port to try (default 8888)")
    p.add_argument("--ip", default="127.0.0.1")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    args = p.parse_args(argv)
    port = free_port(args.ip, start=args.port)
    token = os.environ.get("JUPYTER_TOKEN") or secrets.token_hex(16)
    base = f"http://{args.ip}:{port}"
    log = state_dir() / "jupyter.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.ip={args.ip}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={repo_root()}",
        f"--IdentityProvider.token={token}",
        "--LabApp.default_url=/lab/tree/notebooks/00_setup.ipynb",
    ]
    if args.no_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI machines run as root
        cmd.append("--allow-root")
    print(
        f"JupyterLab: starting on port {port}"
        + (f" ({args.port} is taken)" if port != args.port else "")
        + f"; its log: {log}",
        flush=True,
    )
    log.write_text("")  # this run's log only
    server = Server(
        "JupyterLab",
        cmd,
        ready=lambda: http_ok(f"{base}/api/status?token={token}"),
        log=log,
        startup_timeout=READY_TIMEOUT,
        stop_timeout=15,
    )
    try:  # stdin is not a terminal: Ctrl-C stops the server without a question
        server.start()
        url = f"{base}/lab/tree/notebooks/00_setup.ipynb?token={token}"
        print("\n" + box("JupyterLab is ready. Open:", url, "", "Ctrl-C here stops it."), flush=True)
        assert server.proc is not None
        return server.proc.wait()
    except KeyboardInterrupt:  # the server got the same Ctrl-C: give it time to shut down cleanly
        server.stop()
        print("\nJupyterLab stopped.")
        return 0
