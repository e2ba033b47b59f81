"""The Debian packages the course needs, and installing the missing ones (step 1 of ``workshop setup``).

A missing package is installed with apt-get when this user may (root, or passwordless
``sudo -n``); otherwise the one command that would install it is printed. The whole
``workshop setup`` command is :mod:`workshop.setup`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Say = Callable[[str], None]


@dataclass(frozen=True)
class Package:
    """A Debian package, the program that shows it is installed, and why the course needs it."""

    name: str
    program: str
    why: str
    for_lab: bool  # False: only the tests need it


PACKAGES = (
    Package("coturn", "turnserver", "the TURN server of chapter 5 (WebRTC)", for_lab=True),
    Package("chromium", "chromium", "the browser the WebRTC tests drive", for_lab=False),
    Package("chromium-driver", "chromedriver", "lets the tests drive chromium", for_lab=False),
    Package("docker-compose", "docker-compose", "the tests of docker/compose.yml", for_lab=False),
    Package("podman", "podman", "the container test's engine where Docker is absent", for_lab=False),
    Package(
        "debootstrap", "debootstrap", "the container test's debian:bookworm-slim without a registry", for_lab=False
    ),
    Package("nodejs", "node", "the Socket.IO client the signaling tests run", for_lab=False),
    Package("npm", "npm", "installs that client", for_lab=False),
    Package("patroni", "patroni", "PostgreSQL failover of chapter 8 (replicated data)", for_lab=True),
    Package("etcd-server", "etcd", "Patroni's leader key in chapter 8", for_lab=True),
    Package("redis-sentinel", "redis-sentinel", "Redis failover of chapter 8", for_lab=True),
)


def needed(mode: str) -> list[Package]:
    """The packages ``lab`` or ``test`` needs."""
    return [p for p in PACKAGES if p.for_lab or mode == "test"]


def missing(packages: list[Package], path: str | None = None) -> list[Package]:
    """Those whose program is not on ``path`` (default: ``$PATH``)."""
    return [p for p in packages if shutil.which(p.program, path=path) is None]


def apt_command(path: str | None = None, euid: int | None = None) -> list[str] | None:
    """How this user runs apt-get: ``[apt-get]`` as root, ``[sudo, -n, …]`` with passwordless sudo, else None."""
    apt = shutil.which("apt-get", path=path)
    if apt is None:
        return None
    if (os.geteuid() if euid is None else euid) == 0:
        return [apt]
    sudo = shutil.which("sudo", path=path)
    if sudo is None:
        return None
    try:  # -n: fail at once instead of asking for a password
        if subprocess.run([sudo, "-n", "true"], capture_output=True, timeout=10).returncode != 0:
            return None
    except (subprocess.TimeoutExpired, OSError):
        return None
    return [sudo, "-n", "env", "DEBIAN_FRONTEND=noninteractive", apt]


def install_hint(packages: list[Package]) -> str:
    """The one command that installs ``packages``."""
    return "sudo apt-get install -y " + " ".join(p.name for p in packages)


def ensure_packages(mode: str, log: Path, say: Say = print, path: str | None = None, euid: int | None = None) -> bool:
    """Install what ``mode`` needs and lacks, if this user may; True when nothing is missing afterwards."""
    lacking = missing(needed(mode), path)
    if not lacking:
        say(f"Debian packages: all present ({', '.join(p.name for p in needed(mode))})")
        return True
    what = "; ".join(f"{p.name} ({p.why})" for p in lacking)
    apt = apt_command(path, euid)
    if apt is None:
        say(f"Debian packages: missing {what}. Install with: {install_hint(lacking)}")
        return False
    say(f"Debian packages: installing {what} …")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (["update", "-qq"], ["install", "-y", "-qq", *(p.name for p in lacking)]):
        if not _logged([*apt, *args], log, env, timeout=1800):
            say(
                f"Debian packages: `apt-get {' '.join(args)}` failed (see above; full log {log}). "
                f"Try: {install_hint(lacking)}"
            )
            return False
    still = missing(lacking, path)
    if still:
        say(f"Debian packages: installed, but {', '.join(p.program for p in still)} is still not on PATH")
        return False
    return True


def _logged(cmd: list[str], log: Path, env: dict[str, str] | None = None, timeout: float = 300) -> bool:
    """Run ``cmd`` with its output appended to ``log``; on failure print the log's last lines (stderr)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    start = log.stat().st_size if log.exists() else 0
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        try:
            ok = (
                subprocess.run(
                    cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, timeout=timeout
                ).returncode
                == 0
            )
        except (subprocess.TimeoutExpired, OSError) as exc:
            out.write(f"{exc}\n")
            ok = False
    if not ok:
        with log.open() as f:
            f.seek(start)
            print("".join(f.readlines()[-15:]), end="", file=sys.stderr)
    return ok
