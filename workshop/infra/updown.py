"""``workshop up`` / ``workshop down``: start the services the course needs, and stop them again.

    workshop up                 # every service: postgres, redis, rabbitmq, coturn
    workshop up redis coturn    # just these
    workshop down               # stop what `workshop up` started — nothing else

With a Docker engine, ``up`` runs ``docker compose --env-file .env -f docker/compose.yml up -d --wait``.
Without one, it starts the native programs it finds (``redis-server``,
``rabbitmq-server``, the PostgreSQL cluster, ``turnserver``), but only those
not already running: before starting anything it knocks on the service's port
and checks that what answers speaks the right protocol. Each start is written
to ``.workshop/started.json``, and ``down`` stops exactly those, so a server
that was running before (yours, or the machine's) is never touched.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from workshop.config import Settings, repo_root, state_dir
from workshop.config import settings as load_settings
from workshop.connect import failure_reason
from workshop.errors import WorkshopError
from workshop.infra.coturn import LOCAL_HOSTS, find_running, turnserver_config
from workshop.infra.setup import PACKAGES, install_hint
from workshop.process import http_ok
from workshop.waiting import WaitTimeout, until_sync

COMPOSE_FILE = "docker/compose.yml"
ALIASES = {"postgresql": "postgres", "pg": "postgres", "turn": "coturn", "turnserver": "coturn", "rabbit": "rabbitmq"}


# --- where things are -----------------------------------------------------------------------


def load_state(directory: Path) -> dict[str, dict]:
    """``{service: record}`` of what `workshop up` started (empty if nothing)."""
    path = directory / "started.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def save_state(directory: Path, state: dict[str, dict]) -> None:
    path = directory / "started.json"
    if state:
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(state, indent=2) + "\n")
    elif path.exists():
        path.unlink()


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


# --- "is it running, and is it really that service?" ----------------------------------------
# Each check returns "yes" (the service answers), "closed" (nothing listens) or
# "other" (something else holds the port). Each asks with the client library the
# chapters use: a server that answers "who are you?" (a password, an unknown role)
# is still that server.


def _refused(exc: BaseException) -> bool:
    return failure_reason(exc).startswith("connection refused")


def check_redis(host: str, port: int) -> str:
    import redis

    client = redis.Redis(host=host, port=port, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
        return "yes"
    except redis.AuthenticationError:  # NOAUTH / WRONGPASS: a Redis that wants a password
        return "yes"
    except redis.RedisError as exc:
        return "closed" if _refused(exc) else "other"
    finally:
        client.close()


def check_postgres(host: str, port: int) -> str:
    import psycopg

    try:
        psycopg.connect(host=host, port=port, user="postgres", dbname="postgres", connect_timeout=2).close()
        return "yes"
    except psycopg.OperationalError as exc:
        if exc.sqlstate:  # the server answered with an error of its own (a password, a role): it is PostgreSQL
            return "yes"
        return "closed" if _refused(exc) else "other"


def check_rabbitmq(host: str, port: int) -> str:
    import aio_pika
    from aiormq.exceptions import ProbableAuthenticationError

    async def knock() -> None:
        connection = await aio_pika.connect(host=host, port=port, login="guest", password="guest", timeout=2)
        await connection.close()

    try:
        asyncio.run(knock())
        return "yes"
    except ProbableAuthenticationError:  # a broker that refuses guest is still a broker
        return "yes"
    except Exception as exc:  # noqa: BLE001 - whatever else answered there, it is not RabbitMQ
        return "closed" if _refused(exc) else "other"


def check_coturn(host: str, port: int) -> str:
    from workshop.infra.stun import StunError, stun_binding

    try:
        asyncio.run(stun_binding(host, port, timeout=1.0))
        return "yes"
    except StunError:
        pass
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            return "other" if exc.errno == errno.EADDRINUSE else "closed"
    return "closed"


# --- starting and stopping native programs ---------------------------------------------------


def _run(cmd: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    until_sync(check, timeout=timeout, every=0.2, what=f"{what} to be ready")


def start_redis(s: Settings, d: Path) -> dict:
    host, port = _host_port(s.redis_url, 6379)
    pidfile = d / f"redis-{port}.pid"
    cmd = [
        "redis-server",
        "--daemonize",
        "yes",
        "--bind",
        host,
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(d),
        "--logfile",
        str(d / "redis.log"),
        "--pidfile",
        str(pidfile),
    ]
    proc = _run(cmd, 15)
    if proc.returncode:
        raise WorkshopError(f"redis-server failed: {(proc.stderr or proc.stdout).strip()[:200]}")
    _wait(pidfile.exists, 10, "Redis")
    record = {"pid": int(pidfile.read_text()), "program": "redis-server", "log": str(d / "redis.log")}
    return record


def start_postgres(s: Settings, d: Path) -> dict:
    _, port = _host_port(s.database_url, 5432)
    cluster = _pg_cluster(port)
    if cluster is None:
        raise WorkshopError(f"no PostgreSQL cluster is configured on port {port} (see `pg_lsclusters`)")
    version, name = cluster
    proc = _run(["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "start"])
    if proc.returncode:
        raise WorkshopError(f"pg_ctlcluster failed: {(proc.stderr or proc.stdout).strip()[:200]}")
    return {"stop": ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "stop"]}


def _pg_cluster(port: int) -> tuple[str, str] | None:
    """``(version, name)`` of the Debian/Ubuntu cluster configured on ``port``."""
    if not shutil.which("pg_lsclusters"):
        return None
    for line in _run(["pg_lsclusters", "-h"], 15).stdout.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2] == str(port):
            return fields[0], fields[1]
    return None


def start_rabbitmq(s: Settings, d: Path) -> dict:
    proc = _run(["rabbitmq-server", "-detached"], 30)
    if proc.returncode:
        raise WorkshopError(f"rabbitmq-server failed: {(proc.stderr or proc.stdout).strip()[:200]}")
    return {"stop": ["rabbitmqctl", "stop"]}


def wait_rabbitmq(timeout: float = 60) -> None:
    """``rabbitmqctl await_startup`` fails until the node has registered with epmd: retry it."""

    def started() -> bool:
        try:
            return _run(["rabbitmqctl", "await_startup", "--timeout", "10"], 20).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    try:
        until_sync(started, timeout=timeout, every=1.0, what="RabbitMQ to start")
    except WaitTimeout as exc:
        raise WorkshopError(f"{exc} (see /var/log/rabbitmq/)") from None


def enable_management(s: Settings) -> str:
    """Turn on the management UI plugin (a setting of the node, not a process: `down` leaves it)."""
    host, port = _host_port(s.rabbitmq_management_url, 15672)
    page = f"http://{host}:{port}/"
    if http_ok(page):
        return ""
    if not shutil.which("rabbitmq-plugins"):
        return "management UI: rabbitmq-plugins not found, skipped"
    proc = _run(["rabbitmq-plugins", "enable", "rabbitmq_management"], 90)
    if proc.returncode:
        return f"management UI: enabling the plugin failed: {(proc.stderr or proc.stdout).strip()[:160]}"
    try:
        _wait(lambda: http_ok(page), 30, "the management UI")
    except WorkshopError as exc:
        return f"management UI: {exc}"
    return f"management UI: plugin enabled, open http://{host}:{port}/"


def start_coturn(s: Settings, d: Path) -> dict:
    from workshop.infra.turn import check_secret

    secret = check_secret(s.turn_secret)
    host, port = s.turn_host_port
    conf = d / "turnserver.conf"
    conf.touch(mode=0o600)  # the secret goes in a private file, not on the command line (`ps` shows those)
    conf.chmod(0o600)
    conf.write_text(turnserver_config(secret, host, port, d))
    with open(d / "turnserver.out", "ab") as out:
        proc = subprocess.Popen(
            ["turnserver", "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return {"pid": proc.pid, "program": "turnserver", "log": str(d / "turnserver.log")}


def stop(name: str, record: dict, timeout: float = 30) -> None:
    """Stop one service we started: its stop command, or SIGTERM to its pid (then SIGKILL)."""
    if "stop" in record:
        proc = _run(record["stop"], timeout)
        if proc.returncode:
            raise OSError(f"`{' '.join(record['stop'])}` failed: {(proc.stderr or proc.stdout).strip()[:160]}")
        return
    pid = record["pid"]
    if not _alive(pid, record.get("program")):
        return
    os.kill(pid, signal.SIGTERM)
    try:
        until_sync(lambda: not _alive(pid, record.get("program")), timeout=timeout, every=0.1, what=f"{name} to stop")
    except WaitTimeout:
        os.kill(pid, signal.SIGKILL)


def _alive(pid: int, program: str | None) -> bool:
    """Is ``pid`` running, and is it still the program we started (pids get reused)?"""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            # A zombie is not running -- unless only its main thread has exited: turnserver's
            # worker threads keep its ports open for a moment after that.
            return len(proc.threads()) > 1
        return program is None or any(program in part for part in proc.cmdline())
    except psutil.Error:
        return False


@dataclass
class Native:
    """How to find, check and start one service natively."""

    label: str  # the name the doctor and fixes.py use
    binary: str
    address: Callable[[Settings], tuple[str, int]]
    check: Callable[[str, int], str]
    start: Callable[[Settings, Path], dict]
    ready_timeout: float


SERVICES: dict[str, Native] = {
    "postgres": Native(
        "PostgreSQL", "pg_ctlcluster", lambda s: _host_port(s.database_url, 5432), check_postgres, start_postgres, 30
    ),
    "redis": Native("Redis", "redis-server", lambda s: _host_port(s.redis_url, 6379), check_redis, start_redis, 10),
    "rabbitmq": Native(
        "RabbitMQ", "rabbitmq-server", lambda s: _host_port(s.amqp_url, 5672), check_rabbitmq, start_rabbitmq, 60
    ),
    "coturn": Native("coturn", "turnserver", lambda s: s.turn_host_port, check_coturn, start_coturn, 10),
}


# --- the two commands -----------------------------------------------------------------------


def docker_engine(timeout: float = 5) -> bool:
    """True when ``docker info`` answers (a CLI without a running engine does not count)."""
    if not shutil.which("docker"):
        return False
    try:
        return _run(["docker", "info"], timeout).returncode == 0
    except (subprocess.TimeoutExpired, OSError):
        return False


def _answers(svc: Native, host: str, port: int) -> bool:
    return svc.check(host, port) == "yes"


def up_native(names: list[str], s: Settings, d: Path, say: Callable[[str], None] = print) -> int:
    """Start each service that is not already running; record what was started."""
    d.mkdir(parents=True, exist_ok=True)
    state, failures = load_state(d), 0
    for name in names:
        svc = SERVICES[name]
        host, port = svc.address(s)
        label = f"{svc.label:<11}"
        ours = name in state and ("stop" in state[name] or _alive(state[name]["pid"], state[name].get("program")))
        if name in state and not ours:  # we started it once, but that process is gone
            del state[name]
            save_state(d, state)
        status = svc.check(host, port)
        if status == "yes":
            whose = "started by `workshop up`" if ours else "not started by us: left alone"
            shared = find_running(host, port) if name == "coturn" and not ours else None
            if shared:  # another checkout's: shared, with its secret (see workshop.infra.coturn)
                whose = f"started by `workshop up` in {shared.checkout}: shared"
            say(f"{label} already running on {host}:{port} ({whose})")
        elif status == "other":
            say(
                f"{label} port {host}:{port} is taken by another program that is not {svc.label}: "
                f"stop it, or point the URL in .env at a free port"
            )
            failures += 1
            continue
        elif host not in LOCAL_HOSTS:
            say(f"{label} not reachable at {host}:{port}, and it is not on this machine: not starting it")
            failures += 1
            continue
        elif not shutil.which(svc.binary):
            package = [p for p in PACKAGES if p.program == svc.binary]
            hint = f"install it: {install_hint(package)}" if package else "see README: services"
            say(f"{label} not running, and `{svc.binary}` is not installed ({hint})")
            failures += 1
            continue
        else:
            try:
                state[name] = svc.start(s, d)
                save_state(d, state)  # recorded before waiting: `down` can clean up a failed start
                if name == "rabbitmq":
                    wait_rabbitmq(svc.ready_timeout)
                _wait(partial(_answers, svc, host, port), svc.ready_timeout, svc.label)
            except (WorkshopError, subprocess.TimeoutExpired, OSError) as exc:
                say(f"{label} could not be started: {exc}")
                failures += 1
                continue
            log = f", log {state[name]['log']}" if "log" in state[name] else ""
            say(f"{label} started on {host}:{port}{log}")
        if name == "rabbitmq":
            note = enable_management(s)
            if note:
                say(f"{'':<11} {note}")
    return 1 if failures else 0


def down_native(s: Settings, d: Path, say: Callable[[str], None] = print) -> int:
    from workshop.infra.throwaway import stop_cluster_nodes

    if left := stop_cluster_nodes():  # chapter 7's throw-away nodes that outlived their kernel
        say(f"{'cluster':<11} {left} throw-away RabbitMQ node(s) stopped")
    state = load_state(d)
    if not state:
        say(f"Nothing to stop: `workshop up` has not started any service (no {d / 'started.json'}).")
        return 0
    for name in reversed(list(state)):
        label = SERVICES[name].label if name in SERVICES else name
        try:
            stop(name, state[name])
            say(f"{label:<11} stopped")
        except (subprocess.TimeoutExpired, OSError) as exc:
            if name in SERVICES and SERVICES[name].check(*SERVICES[name].address(s)) == "closed":
                say(f"{label:<11} was already stopped")  # by someone else: nothing left to do
            else:
                say(f"{label:<11} could not be stopped: {exc}")
                continue
        del state[name]
        save_state(d, state)
    return 0 if not state else 1


def _parse(argv: list[str] | None, command: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"workshop {command}", description=__doc__.split("\n\n")[0])
    if command == "up":
        parser.add_argument(
            "services", nargs="*", metavar="service", help=f"any of {', '.join(SERVICES)} (default: all)"
        )
    parser.add_argument("--native", action="store_true", help="do not use Docker even if an engine answers")
    args = parser.parse_args(argv)
    if command == "up":
        names = [ALIASES.get(n.lower(), n.lower()) for n in args.services] or list(SERVICES)
        unknown = [n for n in names if n not in SERVICES]
        if unknown:
            parser.error(f"unknown service {unknown[0]!r}; choose from {', '.join(SERVICES)}")
        args.services = list(dict.fromkeys(names))
    return args


def up_main(argv: list[str] | None = None) -> int:
    args = _parse(argv, "up")
    s, d = load_settings(), state_dir()
    compose = repo_root() / COMPOSE_FILE
    if not args.native and compose.is_file() and docker_engine():
        print(
            f"Docker engine found: docker compose --env-file .env -f docker/compose.yml up -d --wait {' '.join(args.services)}"
        )
        try:  # --wait returns once every healthcheck passes; .env is at the repo root, not in docker/
            rc = subprocess.run(
                [
                    "docker",
                    "compose",
                    "--env-file",
                    str(repo_root() / ".env"),
                    "-f",
                    str(compose),
                    "up",
                    "-d",
                    "--wait",
                    *args.services,
                ],
                timeout=600,
            ).returncode
        except subprocess.TimeoutExpired:
            print(
                "docker compose did not finish within 10 minutes: see `docker compose --env-file .env -f docker/compose.yml ps`"
            )
            return 1
        if rc == 0:
            state = load_state(d)
            services = list(dict.fromkeys([*state.get("docker", {}).get("services", []), *args.services]))
            state["docker"] = {
                "services": services,
                "stop": ["docker", "compose", "-f", str(compose), "stop", *services],
            }
            save_state(d, state)
        return rc
    return up_native(args.services, s, d)


def down_main(argv: list[str] | None = None) -> int:
    _parse(argv, "down")
    return down_native(load_settings(), state_dir())


def main(argv: list[str] | None = None) -> int:
    """``python -m workshop.infra.updown up|down …``"""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["down"]:
        return down_main(argv[1:])
    return up_main(argv[1:] if argv[:1] == ["up"] else argv)


if __name__ == "__main__":
    sys.exit(main())
