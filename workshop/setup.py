"""``workshop setup``: what `make lab` and `make test` do before they start, one line per step.

    workshop setup lab     # what cannot be done is said, with its fix; the lab opens anyway
    workshop setup test    # the same, but anything missing is an error (exit 1)

The steps, each safe to repeat:

1. **Debian packages** the course needs (``PACKAGES``). A missing one is
   installed with apt-get when this user may (root, or passwordless ``sudo -n``);
   otherwise the one command that would install it is printed.
2. **.env** — ``workshop env``.
3. **services** — ``workshop up``.
4. **Jupyter kernel** — "Python 3 (workshop)", in the venv.
5. **JupyterHub's proxy** (``test`` only) — npm ``configurable-http-proxy`` for ``workshop classroom``.

Chatty output (apt-get, ipykernel) goes to ``<state dir>/setup.log``; its last
lines are shown only when a step fails.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workshop.classroom.hub import proxy_command
from workshop.config import state_dir
from workshop.errors import WorkshopError
from workshop.infra import dotenv, updown
from workshop.infra.setup import Say, _logged, ensure_packages


def install_kernel(log: Path, say: Say = print) -> bool:
    """Register this venv's Python as the kernel every notebook names: "python3", "Python 3 (workshop)".

    The same name and display name as each notebook's metadata (docs/style.md; tests/unit/test_style.py):
    a notebook naming another display name turns "unsaved" the moment JupyterLab opens it.
    """
    ok = _logged(
        [
            sys.executable,
            "-m",
            "ipykernel",
            "install",
            "--sys-prefix",
            "--name",
            "python3",
            "--display-name",
            "Python 3 (workshop)",
        ],
        log,
    )
    say("Jupyter kernel: Python 3 (workshop)" + ("" if ok else f" could not be installed (log {log})"))
    return ok


def install_classroom_proxy(say: Say = print) -> bool:
    """JupyterHub's proxy (npm ``configurable-http-proxy``) for ``workshop classroom`` and its tests."""
    try:
        say(f"JupyterHub proxy: {proxy_command()}")
        return True
    except WorkshopError as exc:
        say(f"JupyterHub proxy (workshop classroom): {exc}")
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="workshop setup", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "mode",
        nargs="?",
        choices=("lab", "test"),
        default="lab",
        help="lab: go on when something is missing; test: fail (default: lab)",
    )
    args = parser.parse_args(argv)
    log = state_dir() / "setup.log"
    packages = ensure_packages(args.mode, log)
    if not packages and args.mode == "test":
        return 1  # the line above said what is missing and the command that installs it
    env_ok = dotenv.main([]) == 0
    services = updown.up_main([]) == 0
    kernel = install_kernel(log)
    proxy = args.mode == "lab" or install_classroom_proxy()  # npm is a test-time package
    if packages and env_ok and services and kernel and proxy:
        return 0
    if args.mode == "test":
        return 1
    print("Some set-up is missing (above): the lab opens anyway; its doctor marks the chapters affected.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
