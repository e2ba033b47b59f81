"""Start, ask and stop the class's JupyterHub — the hub itself is JupyterHub, unchanged.

The state folder (``<workshop state dir>/classroom``, mode 0700) holds
``classroom.json`` (ports, class list, limits), the secrets (0600), the learners'
credentials, JupyterHub's sqlite database and ``hub.log``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from workshop.config import state_dir as state_dir_of_workshop
from workshop.errors import WorkshopError
from workshop.process import Server, free_port
from workshop.waiting import WaitTimeout, until_sync

PROXY_PACKAGE = Path(__file__).with_name("proxy")
CONFIG_FILE = Path(__file__).with_name("jupyterhub_config.py")


def state_dir() -> Path:

    return Path(os.environ.get("WORKSHOP_CLASSROOM_DIR") or state_dir_of_workshop() / "classroom")


def proxy_command(install: bool = True) -> Path:
    """``configurable-http-proxy`` from npm, installed in ``classroom/proxy/node_modules`` if missing."""
    binary = PROXY_PACKAGE / "node_modules" / ".bin" / "configurable-http-proxy"
    if binary.exists() or not install:
        return binary
    from workshop.infra.npm import npm_ci

    npm_ci(PROXY_PACKAGE)
    return binary


def learner_python() -> str:
    """A Python the learners' Unix accounts can run, with this venv's packages.

    Normally this venv's own interpreter. When its base Python sits where other
    users cannot reach it (e.g. pyenv under a 0700 ``/root``), a small venv of the
    system ``python3`` of the same minor version is made next to the state folder,
    whose ``.pth`` file adds this venv's site-packages: nothing is installed twice.
    """
    import stat
    import sysconfig

    real = Path(sys.executable).resolve()
    if all(p.stat().st_mode & stat.S_IXOTH for p in real.parents):
        return sys.executable

    runtime = state_dir_of_workshop() / "classroom-runtime"
    python = runtime / "bin" / "python"
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if not python.exists():
        system = Path("/usr/bin") / version
        if not system.exists():
            raise WorkshopError(
                f"the learners cannot run {real} and there is no /usr/bin/{version}: install the course "
                "in a venv every user can read (docs/classroom.md)"
            )
        subprocess.run(
            [str(system), "-m", "venv", "--without-pip", str(runtime)], check=True, capture_output=True, timeout=60
        )
        site = runtime / "lib" / version / "site-packages"
        (site / "workshop_course.pth").write_text(
            f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n"
        )
        # redis-py needs the async-timeout backport below Python 3.11.3 (Debian 12 has 3.11.2)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(site), "async-timeout"],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return str(python)


def _secret_file(path: Path, nbytes: int = 32) -> None:
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(nbytes))


def instructor_account(directory: Path, name: str = "instructor") -> dict[str, str]:
    """The instructor's hub account (an admin, no server): created once with a random password."""
    from workshop.classroom.auth import INSTRUCTOR_FILE

    path = directory / INSTRUCTOR_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"name": name, "password": secrets.token_urlsafe(18)}, out)
    return json.loads(path.read_text())


def write_passwords(directory: Path) -> Path:
    """``hub-passwords.txt`` (0600): each account's first password, for the instructor to hand out."""
    from workshop.classroom.learners import Roster

    instructor = instructor_account(directory)
    lines = [f"{instructor['name']} {instructor['password']}  (the instructor: /hub/admin)"]
    lines += [f"{learner.name} {learner.hub}" for learner in Roster(directory).all()]
    path = directory / "hub-passwords.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(lines) + "\n")
    return path


def write_config(
    directory: Path,
    learners: list[str],
    *,
    ip: str = "127.0.0.1",
    port: int = 0,
    authenticator: str = "native",
    mem_limit: str = "3G",
    cpu_limit: float = 1.0,
    idle_timeout: int = 3600,
    nproc_limit: int = 512,
) -> dict[str, Any]:
    """Write ``classroom.json`` and the secrets JupyterHub's config reads; returns the settings."""
    from workshop.config import repo_root

    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    for name in ("cookie_secret", "proxy_token", "api_token"):
        _secret_file(directory / name)
    instructor = instructor_account(directory)["name"]
    if instructor in learners:
        raise WorkshopError(f"{instructor!r} is the instructor's hub account: give that learner another name")
    conf = {
        "ip": ip,
        "port": port or free_port(),
        "hub_port": free_port(),
        "proxy_api_port": free_port(),
        "proxy": str(proxy_command()),
        "python": learner_python(),
        "learners": sorted(learners),
        "authenticator": authenticator,
        "admins": [instructor],
        "mem_limit": mem_limit,
        "cpu_limit": cpu_limit,
        "idle_timeout": idle_timeout,
        "nproc_limit": nproc_limit,
        "repo": str(repo_root()),
    }
    (directory / "classroom.json").write_text(json.dumps(conf, indent=2) + "\n")
    return conf


class Hub:
    """The running hub, reached through its REST API with the instructor's token."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        if not (directory / "classroom.json").is_file():
            raise WorkshopError(f"no class in {directory} yet: workshop classroom up --learners ...")
        self.conf = json.loads((directory / "classroom.json").read_text())
        self.url = (
            f"http://{'127.0.0.1' if self.conf['ip'] in ('0.0.0.0', '') else self.conf['ip']}:{self.conf['port']}"
        )
        self.session = requests.Session()
        self.session.headers["Authorization"] = "token " + (directory / "api_token").read_text().strip()

    def api(self, method: str, path: str, timeout: float = 10, **kw: Any) -> Any:
        try:
            resp = self.session.request(method, f"{self.url}/hub/api{path}", timeout=timeout, **kw)
        except requests.RequestException as exc:
            raise WorkshopError(
                f"the hub at {self.url} did not answer ({type(exc).__name__}): is it up? (workshop classroom status)"
            ) from None
        if resp.status_code >= 400:
            raise WorkshopError(f"hub API {method} {path}: {resp.status_code} {resp.text[:200]}")
        return resp.json() if resp.content else None

    def alive(self) -> bool:
        try:
            return self.session.get(f"{self.url}/hub/api/", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def add_users(self, names: list[str]) -> None:
        known = {u["name"] for u in self.api("GET", "/users")}
        new = [n for n in names if n not in known]
        if new:
            self.api("POST", "/users", json={"usernames": new})

    def start_server(self, name: str, timeout: float = 120) -> str:
        """Start ``name``'s server and wait until it answers; returns its URL."""
        if not (self.api("GET", f"/users/{name}").get("servers", {}).get("", {}) or {}).get("ready"):
            self.api("POST", f"/users/{name}/server", timeout=timeout)  # answers when started, or 202 after ~10 s

        def ready() -> str | None:
            server = self.api("GET", f"/users/{name}").get("servers", {}).get("")
            return self.url + server["url"] if server and server.get("ready") else None

        try:
            return until_sync(ready, timeout=timeout, every=0.5, what=f"{name}'s server to be ready")
        except WaitTimeout as exc:
            raise WorkshopError(f"{exc}: see {self.directory / 'hub.log'}") from None

    def stop_server(self, name: str, timeout: float = 60) -> None:
        self.api("DELETE", f"/users/{name}/server")
        with contextlib.suppress(WaitTimeout):  # `down` goes on with the others; the hub's log says why
            until_sync(
                lambda: not self.api("GET", f"/users/{name}").get("servers"),
                timeout=timeout,
                every=0.5,
                what=f"{name}'s server to stop",
            )

    def user_api(self, name: str, path: str, timeout: float = 10) -> Any:
        """GET on ``name``'s own Jupyter server, through the proxy (the token has access:servers)."""
        resp = self.session.get(f"{self.url}/user/{name}/api{path}", timeout=timeout)
        resp.raise_for_status()
        return resp.json()


def learner_memory_mib(user: str) -> float:
    """PSS of all the Unix user's processes (its server and kernels): shared libraries counted once."""
    import psutil

    total = 0
    for proc in psutil.process_iter(["username"]):
        if proc.info["username"] == user:
            try:
                total += proc.memory_full_info().pss
            except psutil.Error:  # gone meanwhile, or not ours to read
                pass
    return total / 2**20


def start(directory: Path, timeout: float = 90) -> Hub:
    """Start JupyterHub in the background (its log: ``hub.log``) and wait for its API."""
    hub = Hub(directory)
    if hub.alive():
        return hub
    env = {**os.environ, "WORKSHOP_CLASSROOM_DIR": str(directory)}
    Server(
        "JupyterHub",
        [str(Path(sys.executable).with_name("jupyterhub")), "-f", str(CONFIG_FILE)],
        ready=hub.alive,
        log=directory / "hub.log",
        env=env,
        cwd=directory,
        startup_timeout=timeout,
        detach=True,
    ).start()  # a daemon: `workshop classroom down` stops it through its pid file
    return hub


def _pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def _terminate(pid: int, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if ``pid`` is still there after ``timeout`` seconds."""
    import psutil

    try:
        proc = psutil.Process(pid)
        proc.terminate()
        proc.wait(timeout)
    except psutil.TimeoutExpired:
        proc.kill()
    except psutil.NoSuchProcess:
        pass


def stop(directory: Path) -> list[str]:
    """Stop every learner's server, then the hub and its proxy; returns what was stopped."""
    stopped: list[str] = []
    if not (directory / "classroom.json").is_file():
        return stopped
    hub = Hub(directory)
    if hub.alive():
        for user in hub.api("GET", "/users"):
            if user.get("servers"):
                hub.stop_server(user["name"])
                stopped.append(f"{user['name']}'s server")
    for name, pidfile in (("hub", "hub.pid"), ("proxy", "jupyterhub-proxy.pid")):
        pid = _pid(directory / pidfile)
        if pid:
            _terminate(pid)
            stopped.append(name)
    return stopped
