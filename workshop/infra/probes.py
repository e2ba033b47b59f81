"""One probe per service: is it there, which version, how fast does it answer?

Each probe makes a real round trip with the same client library the chapters
use (psycopg, redis, aio-pika, aiohttp, aioice for STUN/TURN) and returns a
:class:`ProbeResult`. :func:`run_probes` runs them all concurrently, each
under a short timeout, so a dead service costs a couple of seconds, never a hang.

    >>> results = await run_probes(settings())
    >>> [(r.service, r.ok) for r in results]
    [('PostgreSQL', True), ('Redis', True), ('RabbitMQ', True), ...]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from workshop.config import Settings, repo_root
from workshop.connect import failure_reason
from workshop.errors import WorkshopError, redact
from workshop.fixes import FIXES, fix_for
from workshop.infra.coturn import LOCAL_HOSTS, find_running
from workshop.infra.setup import PACKAGES, install_hint

TIMEOUT = 2.5  # seconds per probe
REQUIRED = ("PostgreSQL", "Redis", "RabbitMQ", "coturn")  # the chapters cannot run without these


@dataclass
class ProbeResult:
    """The verdict on one service. ``url`` never contains a password."""

    service: str
    url: str
    ok: bool
    required: bool
    version: str = ""
    latency_ms: float | None = None
    detail: str = ""  # what went wrong (or a note when all is well)
    fix: str = ""  # the command that fixes it, when not ok

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Timer:
    """Measures one round trip: ``with timer: await ...``; then ``timer.ms``."""

    def __enter__(self) -> _Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.ms = round((time.perf_counter() - self.start) * 1000, 2)


# --- the probes: each returns (version, latency_ms, detail) or raises -----------------------


async def probe_postgres(s: Settings, timeout: float) -> tuple[str, float, str]:
    import psycopg

    conn = await psycopg.AsyncConnection.connect(s.database_url, connect_timeout=max(1, round(timeout)))
    try:
        with _Timer() as t:
            cur = await conn.execute("SHOW server_version")
            row = await cur.fetchone()
        version = str(row[0]) if row else "?"
        return version.split()[0], t.ms, ""
    finally:
        await conn.close()


async def probe_redis(s: Settings, timeout: float) -> tuple[str, float, str]:
    import redis.asyncio as aioredis

    r = aioredis.from_url(s.redis_url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        info = await r.info("server")
        with _Timer() as t:
            await r.ping()
        return str(info.get("redis_version", "?")), t.ms, ""
    finally:
        await r.aclose()


async def probe_rabbitmq(s: Settings, timeout: float) -> tuple[str, float, str]:
    import aio_pika

    with _quiet("aiormq.connection"):  # it logs every refused connection itself; we report it once
        conn = await aio_pika.connect(s.amqp_url, timeout=timeout)
    try:
        assert conn.transport is not None  # connected: aio-pika has its underlying connection
        props = conn.transport.connection.server_properties
        with _Timer() as t:  # opening a channel is one round trip to the broker
            channel = await conn.channel(publisher_confirms=False)
        await channel.close()
        version = props.get("version", "?")
        return version.decode() if isinstance(version, bytes) else str(version), t.ms, ""
    finally:
        await conn.close()


async def probe_management(s: Settings, timeout: float) -> tuple[str, float, str]:
    import aiohttp

    url, headers = split_auth(s.rabbitmq_management_url)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout), headers=headers) as http:
        with _Timer() as t:
            async with http.get(url.rstrip("/") + "/api/overview") as resp:
                if resp.status == 401:
                    raise WorkshopError("401 Unauthorized: check the user and password in RABBITMQ_MANAGEMENT_URL")
                resp.raise_for_status()
                overview = await resp.json()
    return overview.get("rabbitmq_version", "?"), t.ms, f"UI: {redact(s.rabbitmq_management_url)}"


async def probe_coturn(s: Settings, timeout: float) -> tuple[str, float, str]:
    from workshop.infra.stun import StunError, TurnProbe
    from workshop.infra.turn import turn_credentials

    host, port = s.turn_host_port
    async with TurnProbe(host, port, timeout) as probe:
        with _Timer() as t:
            mapped = await probe.binding()  # STUN answers anyone...
        creds = turn_credentials(s.turn_secret, user="doctor", ttl=60)  # ConfigError if TURN_SECRET unset
        try:  # ...TURN (the relay) only those who know the shared secret
            relayed = await probe.allocate(creds["username"], creds["credential"])
        except StunError as exc:
            if exc.code == 401:
                raise WorkshopError(
                    f"up on {host}:{port}, but it rejects this checkout's TURN_SECRET (401 Unauthorized)"
                ) from None
            raise
    version = probe.software.split()[0].removeprefix("Coturn-") if probe.software else "?"
    return version, t.ms, f"STUN sees {mapped[0]}:{mapped[1]}; TURN relayed {relayed[0]}:{relayed[1]}"


async def probe_signaling(s: Settings, timeout: float) -> tuple[str, float, str]:
    import aiohttp

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http:
        with _Timer() as t:
            async with http.get(s.signaling_url.rstrip("/") + "/healthz") as resp:
                if resp.status != 200:
                    raise WorkshopError(f"/healthz answered HTTP {resp.status}, expected 200")
                body = await resp.text()
    version = ""
    with contextlib.suppress(ValueError, AttributeError):
        version = str(json.loads(body).get("version", ""))
    return version, t.ms, ""


REPLICATION = ("patroni", "etcd-server", "redis-sentinel")  # chapter 8 starts its own servers from these


def _replication_missing() -> list[Any]:
    return [p for p in PACKAGES if p.name in REPLICATION and shutil.which(p.program) is None]


async def probe_replication(s: Settings, timeout: float) -> tuple[str, float, str]:
    """Nothing to connect to (chapter 8 starts throw-away servers): are the programs installed?"""
    with _Timer() as t:
        gone = _replication_missing()
    if gone:
        raise WorkshopError(f"not installed: {', '.join(p.name for p in gone)}")
    return "", max(t.ms, 0.01), "Patroni, etcd and Redis Sentinel installed (chapter 8 starts its own servers)"


# --- running them ---------------------------------------------------------------------------

Probe = Callable[[Settings, float], Awaitable[tuple[str, float, str]]]


def probes_for(s: Settings) -> list[tuple[str, str, Probe]]:
    """``(service, url, probe)`` for every service this configuration uses."""
    found: list[tuple[str, str, Probe]] = [
        ("PostgreSQL", s.database_url, probe_postgres),
        ("Redis", s.redis_url, probe_redis),
        ("RabbitMQ", s.amqp_url, probe_rabbitmq),
        ("RabbitMQ management", s.rabbitmq_management_url, probe_management),
        ("coturn", s.turn_url, probe_coturn),
        ("replication", "patroni · etcd · redis-sentinel", probe_replication),
    ]
    if s.signaling_url:  # only checked when configured
        found.append(("signaling", s.signaling_url, probe_signaling))
    return found


async def check(
    service: str, url: str, probe: Probe, s: Settings, required: bool, timeout: float = TIMEOUT
) -> ProbeResult:
    """Run one probe under a hard timeout and turn any failure into a result."""
    result = ProbeResult(service, redact(url), ok=False, required=required)
    try:
        result.version, result.latency_ms, result.detail = await asyncio.wait_for(probe(s, timeout), timeout + 0.5)
        result.ok = True
    except TimeoutError:
        result.detail = f"no answer within {timeout:g} s"
    except Exception as exc:  # any failure is a verdict, not a crash
        result.detail = failure_reason(exc)
    if not result.ok:
        result.fix = _fix(service, result.detail, s)
        if not required:
            result.detail = f"optional: {result.detail}"
    return result


async def run_probes(s: Settings, required: tuple[str, ...] = REQUIRED, timeout: float = TIMEOUT) -> list[ProbeResult]:
    """Probe every service concurrently; the whole run takes at most ~``timeout`` seconds."""
    _import_clients()
    return list(
        await asyncio.gather(
            *(check(service, url, probe, s, service in required, timeout) for service, url, probe in probes_for(s))
        )
    )


# --- small helpers --------------------------------------------------------------------------


def _import_clients() -> None:
    """Import the client libraries before any probe's clock starts.

    The probes share one event loop: a first import inside one of them (a second
    or more on a busy machine) would stall the others and eat their timeouts.
    """
    import aio_pika  # noqa: F401
    import aiohttp  # noqa: F401
    import psycopg  # noqa: F401
    import redis.asyncio  # noqa: F401

    import workshop.infra.stun  # noqa: F401  (aioice)


def _fix(service: str, detail: str, s: Settings) -> str:
    host, _ = s.turn_host_port
    if service == "replication":
        return install_hint(_replication_missing()) + "  (or: workshop setup lab)"
    if service == "coturn" and host in LOCAL_HOSTS and shutil.which("turnserver") is None:
        coturn = [p for p in PACKAGES if p.name == "coturn"]
        return f"{install_hint(coturn)}, then: workshop up coturn  (or with Docker: {FIXES['coturn'][0]})"
    if service == "coturn" and "TURN_SECRET is not set" in detail:
        return "workshop env  (then restart coturn: workshop down && workshop up)"
    if service == "coturn" and "401" in detail:
        running = find_running(*s.turn_host_port)
        if running is None:  # not started by `workshop up` here: its secret is someone else's
            return (
                "set TURN_SECRET in .env to the static-auth-secret of whoever started that coturn, "
                "or stop it there and run `workshop up coturn` here"
            )
        if running.checkout == repo_root():
            return "workshop down && workshop up  (restart coturn with the TURN_SECRET now in .env)"
        return (
            f"workshop env  (copies the secret of the coturn started from {running.checkout}), "
            f"or `workshop down` in {running.checkout}, then `workshop up` here"
        )
    return fix_for(service)


def split_auth(url: str) -> tuple[str, dict[str, str]]:
    """Move ``user:password@`` out of an http URL into an HTTP Basic ``Authorization`` header."""
    import base64
    from urllib.parse import unquote

    parts = urlsplit(url)
    if not parts.username:
        return url, {}
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
    netloc = f"{host}:{parts.port}" if parts.port else str(host)
    token = base64.b64encode(f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()).decode()
    return urlunsplit(parts._replace(netloc=netloc)), {"Authorization": f"Basic {token}"}


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
