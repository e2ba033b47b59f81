"""Drive docker/compose.yml on a real container engine: Docker, or podman standing in for it.

The container test (``test_stack.py``) and its driver (``python -m tests.containers``) use
this module to build every image, bring the stack up, wait until it is healthy, run
commands in it, and tear it all down again. Two engines:

* **Docker** (an instructor's machine): ``docker compose`` (or ``docker-compose``) as the
  learner types it; ``debian:bookworm-slim`` is pulled from Docker Hub.
* **podman** (CI here, no Docker and no image registry): a private image store, podman's
  Docker-compatible API on a private socket driven by Debian's ``docker-compose``, and
  ``debian:bookworm-slim`` built with debootstrap (``docker/base/make-base.sh``).

Every stack gets its own Compose project name, its own throw-away secrets and free host
ports, so it never collides with the services already running on the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from workshop.process import free_port
from workshop.waiting import WaitTimeout, until_sync

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker" / "compose.yml"
BASE_IMAGE = "docker.io/library/debian:bookworm-slim"
PROFILES = ("orders", "pubsub", "cqrs", "replicas")
DEFAULT_STORE = Path("/var/tmp/workshop-containers")  # podman: images survive between runs (warm)


class StackError(AssertionError):
    """One line saying what went wrong with the stack (and where to look)."""


SAID: list[str] = []  # every say() line of this process, for pytest's summary (conftest.py)


def say(line: str) -> None:
    SAID.append(f"[containers {time.strftime('%H:%M:%S')}] {line}")
    print(SAID[-1], flush=True)


def run(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    check: bool = True,
    input: str | None = None,
    cwd: Path = ROOT,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``; on failure raise :class:`StackError` with the command and the end of its output."""
    try:
        done = subprocess.run(
            cmd,
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise StackError(f"`{' '.join(cmd[:6])} …` did not finish within {timeout:.0f} s") from None
    if check and done.returncode != 0:
        tail = (done.stdout + done.stderr).strip()[-1500:]
        raise StackError(f"`{' '.join(cmd[:8])} …` failed (exit {done.returncode}):\n{tail}")
    return done


def free_udp_range(size: int, start: int = 40000, stop: int = 60000) -> int:
    """The first port of ``size`` consecutive ports free for UDP and TCP on 127.0.0.1.

    (``workshop.process.free_port`` finds one port; coturn's relay range needs a run of them.)
    """
    for base in range(start + secrets.randbelow(1000), stop, size):
        sockets = []
        try:
            for port in range(base, base + size):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    s = socket.socket(socket.AF_INET, kind)
                    sockets.append(s)
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise StackError(f"no {size} consecutive free UDP ports on 127.0.0.1 between {start} and {stop}")


# --- engines ---------------------------------------------------------------------------------


@dataclass
class Engine:
    """How to run the container CLI and Compose on this machine."""

    name: str  # "docker" or "podman"
    cli: list[str]  # e.g. ["podman", "--root", …]
    compose: list[str]  # e.g. ["docker-compose"] or ["docker", "compose"]
    env: dict[str, str]  # the environment both run with
    service: subprocess.Popen | None = None  # podman's API server
    workdir: Path | None = None

    def __call__(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return run([*self.cli, *args], env=self.env, **kw)

    def close(self) -> None:
        if self.service is not None and self.service.poll() is None:
            self.service.terminate()
            try:
                self.service.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.service.kill()
                self.service.wait(timeout=10)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _docker_works() -> bool:
    return (
        shutil.which("docker") is not None
        and subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode == 0
        and not _docker_is_podman()
    )


def _docker_is_podman() -> bool:
    done = subprocess.run(["docker", "--version"], capture_output=True, text=True, timeout=30)
    return "podman" in done.stdout.lower()


def engine_missing() -> str:
    """``""`` when a container engine can run the stack here, else one line saying what is missing."""
    if os.environ.get("WORKSHOP_CONTAINER_ENGINE", "") != "podman" and _docker_works():
        return ""
    missing = [tool for tool in ("podman", "docker-compose", "debootstrap") if not shutil.which(tool)]
    if missing:
        return (
            f"no Docker engine, and {', '.join(missing)} missing for podman: "
            f"apt-get install {' '.join(missing)} (or `workshop setup test`, as root)"
        )
    if os.geteuid() != 0:
        return "no Docker engine, and podman would run rootless here: the test drives rootful podman (run it as root)"
    return ""


def open_engine(store: Path | None = None, extra_volumes: list[str] | None = None) -> Engine:
    """Docker when it runs here, else podman with a private store (``store``) and API socket.

    ``extra_volumes`` (podman): ``host:container:ro`` mounts into every container of this
    service, builds included (see learner_path.py).
    """
    if os.environ.get("WORKSHOP_CONTAINER_ENGINE", "") != "podman" and _docker_works():
        plugin = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode == 0
        compose = ["docker", "compose"] if plugin else ["docker-compose"]
        return Engine("docker", ["docker"], compose, dict(os.environ))
    missing = engine_missing()
    if missing:
        raise StackError(missing)
    store = store or Path(os.environ.get("WORKSHOP_CONTAINER_STORE", DEFAULT_STORE))
    workdir = Path(tempfile.mkdtemp(prefix="workshop-podman-"))
    conf = workdir / "containers.conf"
    # Without a systemd login session this machine's containers may not raise their rlimits
    # ("error setting rlimit type 7: operation not permitted"): keep the engine's own. crun
    # refuses a cgroup v1/v2 hybrid; runc copes with it.
    conf.write_text(
        "[containers]\ndefault_ulimits = []\n"
        + (f"volumes = {json.dumps(extra_volumes)}\n" if extra_volumes else "")
        + ('[engine]\nruntime = "runc"\n' if shutil.which("runc") else "")
    )
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    cli = ["podman", "--root", str(store / "storage"), "--runroot", f"/run/{store.name}"]
    sock = workdir / "podman.sock"
    log = (workdir / "service.log").open("w")
    service = subprocess.Popen(
        [*cli, "system", "service", "--time=0", f"unix://{sock}"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    engine = Engine("podman", cli, ["docker-compose"], {**env, "DOCKER_HOST": f"unix://{sock}"}, service, workdir)
    with contextlib.suppress(WaitTimeout):  # it answers, or it died: either way, no longer waiting
        until_sync(lambda: service.poll() is not None or _ping(sock), timeout=60, every=0.3, what="podman's API")
    if service.poll() is not None or not _ping(sock):
        log = (workdir / "service.log").read_text()[-500:]  # before close(), which removes workdir
        engine.close()
        raise StackError(f"podman's API service did not start: {log}")
    return engine


def _ping(sock: Path) -> bool:
    """Docker's ``GET /_ping`` on podman's socket answers ``OK`` once the API serves."""
    try:
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), timeout=2) as client:
            return client.get("http://podman/_ping").text == "OK"
    except httpx.HTTPError:
        return False


# --- images ----------------------------------------------------------------------------------


LAB_IMAGE = "workshop-lab:latest"
WHEELS = "/run/workshop-wheels"  # where a build sees the host's wheelhouse (see make_wheelhouse)


def build_args(engine: Engine, wheelhouse: Path | None = None) -> list[str]:
    """podman only: what this machine needs to build, never stored in an image.

    apt-get needs the host's network during the build. With a ``wheelhouse``
    (:func:`make_wheelhouse`), pip in the build installs from it and nothing else (a pip.conf
    with ``no-index``, mounted read-only like the wheels). Without one, when pip on this
    machine trusts a private certificate authority (an HTTPS proxy in front of PyPI:
    ``PIP_CERT``), the build borrows it through a read-only mount of a pip.conf naming it.
    """
    if engine.name != "podman":
        return []
    args = ["--network", "host", "--pull=never"]
    if engine.workdir is None:
        return args
    pip_conf = engine.workdir / "pip.conf"
    ca = os.environ.get("PIP_CERT")
    if wheelhouse is not None:
        pip_conf.write_text(f"[global]\nno-index = true\nfind-links = {WHEELS}\n")
        args += ["--volume", f"{wheelhouse}:{WHEELS}:ro", "--volume", f"{pip_conf}:/etc/pip.conf:ro"]
    elif ca and Path(ca).is_file():
        pip_conf.write_text("[global]\ncert = /run/workshop-build-ca.crt\n")
        args += ["--volume", f"{ca}:/run/workshop-build-ca.crt:ro", "--volume", f"{pip_conf}:/etc/pip.conf:ro"]
    return args


def make_wheelhouse(engine: Engine) -> Path | None:
    """podman, when the lab image is not built yet: every pinned package as a wheel, on the host.

    The lab image's longest step is pip downloading some 190 packages. The host's pip has just
    installed the very same versions (constraints.txt) and fetches them from its own cache or
    index in seconds; the build then installs from these files (see :func:`build_args`). The
    Dockerfile is unchanged: on a learner's machine pip downloads from PyPI. Every pin, not
    only the lab's: the lock was resolved on the image's Python 3.11.2, which needs a few
    packages (async-timeout for redis) that the host's later 3.11 does not. ``None`` (and the
    build downloads as usual) when the host's pip cannot make them.
    """
    if engine.name != "podman" or engine.workdir is None or image_exists(engine, LAB_IMAGE):
        return None
    started = time.monotonic()
    target = engine.workdir / "wheels"
    cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(target)]
    done = run([*cmd, "-r", str(ROOT / "constraints.txt"), "setuptools>=68", "wheel"], timeout=900, check=False)
    if done.returncode != 0:
        say(f"no wheelhouse (the build downloads from PyPI): {done.stderr.strip().splitlines()[-1:]}")
        return None
    say(
        f"wheelhouse: {len(list(target.glob('*.whl')))} wheels from the host's pip in {time.monotonic() - started:.0f} s"
    )
    return target


def images(config: dict[str, Any]) -> dict[str, dict[str, str]]:
    """``image -> {context, dockerfile}`` for every image the compose file builds (each once)."""
    found: dict[str, dict[str, str]] = {}
    for service in config["services"].values():
        build = service.get("build")
        if build:
            context = Path(build["context"])
            found.setdefault(
                service["image"],
                {"context": str(context), "dockerfile": str(context / build.get("dockerfile", "Dockerfile"))},
            )
    return found


def image_exists(engine: Engine, image: str) -> bool:
    return engine("image", "inspect", image, check=False, timeout=60).returncode == 0


def image_size_mb(engine: Engine, image: str) -> float:
    size = engine("image", "inspect", "--format", "{{.Size}}", image, timeout=60).stdout.strip()
    return int(size) / 1e6


def build_base(engine: Engine) -> None:
    """podman: ``debian:bookworm-slim`` from debootstrap when the store lacks it (Docker pulls it)."""
    if engine.name == "podman" and not image_exists(engine, BASE_IMAGE):
        started = time.monotonic()
        run([str(ROOT / "docker" / "base" / "make-base.sh"), *engine.cli], env=engine.env, timeout=900)
        say(f"base image {BASE_IMAGE} built with debootstrap in {time.monotonic() - started:.0f} s")


def build_images(engine: Engine, config: dict[str, Any], compose: Compose) -> dict[str, float]:
    """Build every image of the compose file; return each image's size in MB."""
    with ThreadPoolExecutor(max_workers=1) as pool:  # the wheels while debootstrap runs
        wheels = pool.submit(make_wheelhouse, engine)
        build_base(engine)
        wheelhouse = wheels.result()
    if engine.name == "docker":
        compose("build", timeout=1800)
    else:  # all at once, as `compose build` does: the lab's pip install overlaps the services' apt-get
        args = build_args(engine, wheelhouse)

        def build(image: str, spec: dict[str, str]) -> None:
            started = time.monotonic()
            engine("build", *args, "-t", image, "-f", spec["dockerfile"], spec["context"], timeout=1800)
            say(f"built {image} in {time.monotonic() - started:.0f} s")

        with ThreadPoolExecutor(max_workers=len(images(config))) as pool:
            for done in [pool.submit(build, image, spec) for image, spec in images(config).items()]:
                done.result()
    return {image: image_size_mb(engine, image) for image in images(config)}


# --- a Compose project -----------------------------------------------------------------------


@dataclass
class Compose:
    """One Compose project of docker/compose.yml with throw-away secrets and free host ports."""

    engine: Engine
    project: str = field(default_factory=lambda: f"wstest{secrets.token_hex(3)}")
    values: dict[str, str] = field(default_factory=dict)
    env_file: Path | None = None

    def __post_init__(self) -> None:
        relay = free_udp_range(12)  # 11 relay ports (49160-49170 inside), then the TURN port
        self.values = {
            "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
            "RABBITMQ_PASSWORD": secrets.token_urlsafe(16),
            "TURN_SECRET": secrets.token_urlsafe(24),
            "SIGNALING_SECRET": secrets.token_urlsafe(24),
            "JUPYTER_TOKEN": secrets.token_hex(24),
            "REDIS_HOST_PORT": str(free_port()),
            "POSTGRES_HOST_PORT": str(free_port()),
            "RABBITMQ_HOST_PORT": str(free_port()),
            "RABBITMQ_MANAGEMENT_HOST_PORT": str(free_port()),
            "TURN_RELAY_HOST_PORTS": f"{relay}-{relay + 10}",
            "TURN_HOST_PORT": str(relay + 11),
            "SIGNALING_HOST_PORT": str(free_port()),
            "LAB_HOST_PORT": str(free_port()),
            "API_HOST_PORT": str(free_port()),
            "READ_API_HOST_PORT": str(free_port()),
        }
        self.env_file = Path(tempfile.mkstemp(prefix=f"{self.project}-", suffix=".env")[1])
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in self.values.items()))

    def __call__(self, *args: str, profiles: tuple[str, ...] = (), **kw: Any) -> subprocess.CompletedProcess[str]:
        flags = [f"--profile={p}" for p in profiles]
        return run(
            [
                *self.engine.compose,
                "-p",
                self.project,
                "--env-file",
                str(self.env_file),
                "-f",
                str(COMPOSE_FILE),
                *flags,
                *args,
            ],
            env=self.engine.env,
            **kw,
        )

    def config(self) -> dict[str, Any]:
        return yaml.safe_load(self("config", profiles=PROFILES, timeout=120).stdout)

    def port(self, name: str) -> int:
        return int(self.values[name])

    # -- containers --

    def containers(self, service: str | None = None, all: bool = True) -> list[dict[str, Any]]:
        """``inspect`` of this project's containers (of one service), Docker's field names."""
        label = [f"--filter=label=com.docker.compose.project={self.project}"]
        if service:
            label.append(f"--filter=label=com.docker.compose.service={service}")
        ids = self.engine("ps", "-q", *(["-a"] if all else []), *label, timeout=60).stdout.split()
        if not ids:
            return []
        return json.loads(self.engine("inspect", *ids, timeout=60, check=False).stdout or "[]")

    def container(self, service: str) -> str:
        found = self.containers(service, all=False)
        if not found:
            raise StackError(f"service {service} has no running container")
        return found[0]["Id"]

    def exec(self, service: str, *cmd: str, env: dict[str, str] | None = None, **kw: Any):
        flags = [f"--env={k}={v}" for k, v in (env or {}).items()]
        return self.engine("exec", *flags, self.container(service), *cmd, **kw)

    def logs(self, service: str, tail: int = 30) -> str:
        done = self("logs", "--no-color", f"--tail={tail}", service, profiles=PROFILES, check=False, timeout=60)
        return (done.stdout + done.stderr).strip()

    # -- health --

    def up(self, *args: str, profiles: tuple[str, ...] = (), timeout: float = 420, build: bool = False) -> None:
        """``up -d`` (no build unless asked), pumping healthchecks meanwhile (see :class:`HealthPump`)."""
        with HealthPump(self):
            try:
                self("up", "-d", *([] if build else ["--no-build"]), *args, profiles=profiles, timeout=timeout)
            except StackError as exc:
                pending = self.pending(
                    [c["Config"]["Labels"].get("com.docker.compose.service", "?") for c in self.containers()]
                )
                if not pending:
                    raise
                name, why = pending[0]
                raise StackError(f"`compose up` stopped: {name} {why}") from exc

    def wait_healthy(self, services: list[str], timeout: float = 300) -> None:
        """Until every container of ``services`` runs and, when it has a healthcheck, is healthy.

        Gives up after ``timeout`` with one line naming the first service that is not, and its
        last healthcheck output or log line.
        """

        def first_pending() -> str:
            pending = self.pending(services)
            if not pending:
                return "none"
            name, why = pending[0]
            last = self.logs(name, tail=1).splitlines()[-1:] or ["-"]
            return f"{name} {why}; its last log line: {last[0][:200]}"

        with HealthPump(self):
            try:
                until_sync(lambda: not self.pending(services), timeout=timeout, every=2, what="a healthy stack")
            except WaitTimeout:
                raise StackError(f"{first_pending()} (after {timeout:.0f} s)") from None

    def pending(self, services: list[str]) -> list[tuple[str, str]]:
        """``(service, why)`` for each of ``services`` that is not running, or not healthy yet."""
        pending = []
        for name in dict.fromkeys(services):
            found = self.containers(name)
            if not found:
                pending.append((name, "has no container"))
            for c in found:
                state = c["State"]
                health = state.get("Health") or state.get("Healthcheck") or {}
                if state.get("Status") != "running":
                    pending.append((name, f"is {state.get('Status')} (exit {state.get('ExitCode')})"))
                elif health.get("Status", "") not in ("", "healthy"):
                    output = ((health.get("Log") or [{}])[-1].get("Output") or "").strip()
                    pending.append((name, f"is {health['Status']} (last check: {output[:160]!r})"))
        return pending

    # -- teardown --

    def down(self, volumes: bool = True) -> None:
        """``down`` (``-v``: with the volumes); if Compose cannot (say the compose file changed
        under a running test), remove what carries this project's label directly."""
        self(
            "down",
            "--remove-orphans",
            *(["-v"] if volumes else []),
            "--timeout=10",
            profiles=PROFILES,
            timeout=300,
            check=False,
        )
        label = f"--filter=label=com.docker.compose.project={self.project}"
        containers = self.engine("ps", "-aq", label, timeout=60, check=False).stdout.split()
        if containers:
            self.engine("rm", "--force", *containers, timeout=300, check=False)
        networks = self.engine("network", "ls", "-q", label, timeout=60, check=False).stdout.split()
        if networks:
            self.engine("network", "rm", *networks, timeout=120, check=False)
        if volumes:
            found = self.engine("volume", "ls", "-q", label, timeout=60, check=False).stdout.split()
            if found:
                self.engine("volume", "rm", "--force", *found, timeout=120, check=False)

    def leftovers(self) -> list[str]:
        """Containers, networks and volumes of this project still present."""
        label = f"label=com.docker.compose.project={self.project}"
        left = []
        for kind, args in (
            ("container", ["ps", "-aq"]),
            ("network", ["network", "ls", "-q"]),
            ("volume", ["volume", "ls", "-q"]),
        ):
            ids = self.engine(*args, f"--filter={label}", timeout=60, check=False).stdout.split()
            left += [f"{kind} {i if kind == 'volume' else i[:12]}" for i in ids]  # a volume's id is its name
        return left

    def remove_env_file(self) -> None:
        if self.env_file is not None:
            self.env_file.unlink(missing_ok=True)


class HealthPump:
    """podman only: run the containers' healthchecks, since nothing else does here.

    Docker runs each healthcheck itself; podman leaves scheduling to systemd timers, and a
    machine without systemd (CI containers, this one) never runs them, so
    ``depends_on: condition: service_healthy`` would wait forever. While the stack starts
    and while we wait for it, this thread runs ``podman healthcheck run`` on every container
    that is not healthy yet, at that service's ``interval`` from the compose file.
    """

    def __init__(self, compose: Compose) -> None:
        self.compose = compose
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.intervals: dict[str, float] = {}

    def __enter__(self) -> HealthPump:
        if self.compose.engine.name == "podman":
            for name, service in self.compose.config()["services"].items():
                interval = (service.get("healthcheck") or {}).get("interval", "5s")
                self.intervals[name] = _seconds(interval)
            self.thread = threading.Thread(target=self._run, name="health-pump", daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=60)

    def _run(self) -> None:
        last: dict[str, float] = {}
        engine = self.compose.engine
        while not self.stop.wait(1):
            try:
                for c in self.compose.containers(all=False):
                    state = c["State"]
                    health = (state.get("Health") or state.get("Healthcheck") or {}).get("Status", "")
                    if not health or health == "healthy":
                        continue
                    service = c["Config"]["Labels"].get("com.docker.compose.service", "")
                    if time.monotonic() - last.get(c["Id"], 0) >= self.intervals.get(service, 5):
                        last[c["Id"]] = time.monotonic()
                        engine("healthcheck", "run", c["Id"], check=False, timeout=60)
            except (StackError, KeyError, json.JSONDecodeError):
                continue  # a container went away meanwhile: look again


def _seconds(duration: str) -> float:
    """Compose's ``10s`` / ``1m30s`` / ``500ms`` as seconds."""
    import re

    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(duration)):
        total += float(number) * {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6}[unit]
    return total or 5.0
