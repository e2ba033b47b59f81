"""``workshop lab``: start JupyterLab on the course, on port 8888 or the next free one.

The URL (with its one-time token) is printed in a box so it can't be missed in
a wall of server logs.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import sys

from workshop.config import repo_root


def free_port(start: int = 8888, host: str = "127.0.0.1", tries: int = 50) -> int:
    """The first port from ``start`` on which nothing listens."""
    for port in range(start, start + tries):
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    raise SystemExit(f"workshop lab: ports {start}-{start + tries - 1} are all taken; pass --port")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="workshop lab", description=__doc__)
    p.add_argument("--port", type=int, default=8888, help="first port to try (default 8888)")
    p.add_argument("--ip", default="127.0.0.1")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    args = p.parse_args(argv)
    port = free_port(args.port, args.ip)
    if port != args.port:
        print(f"port {args.port} is taken; using {port}")
    token = os.environ.get("JUPYTER_TOKEN") or secrets.token_hex(16)
    root = repo_root()
    url = f"http://{args.ip}:{port}/lab/tree/notebooks/00_setup.ipynb?token={token}"
    bar = "=" * (len(url) + 4)
    print(f"\n{bar}\n  JupyterLab is starting. Open:\n  {url}\n{bar}\n", flush=True)
    cmd = [
        sys.executable, "-m", "jupyterlab",
        f"--ServerApp.ip={args.ip}", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}",
        "--LabApp.default_url=/lab/tree/notebooks/00_setup.ipynb",
    ]
    if args.no_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI machines run as root
        cmd.append("--allow-root")
    os.execv(sys.executable, cmd)  # JupyterLab takes over this process (Ctrl-C stops it)
    return 0
