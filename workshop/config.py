"""Where the services are, read from the environment (or a `.env` file).

Every chapter asks this module for its URLs instead of hard-coding ``redis:6379``
as the course text does. Defaults point at localhost, so a learner with the
services running natively needs no configuration at all.

The **namespace** keeps people apart: exchanges, queues, database schemas and
Redis keys are all prefixed with it, so two learners sharing one classroom
server, two test runs, or the same notebook run twice never collide.

    >>> from workshop.config import settings
    >>> s = settings()
    >>> s.namespace.key("user_events")          # a Redis key / channel
    'ws_alice:user_events'
"""

from __future__ import annotations

import getpass
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from workshop.errors import ConfigError

DEFAULTS: dict[str, str] = {
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/",
    "RABBITMQ_MANAGEMENT_URL": "http://guest:guest@127.0.0.1:15672/",
    "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/postgres",
    "TURN_URL": "turn:127.0.0.1:3478",
    "SIGNALING_URL": "",  # empty: no signaling server configured
    "SIGNALING_BROWSER_URL": "",  # empty: SIGNALING_URL's port on 127.0.0.1 (workshop/webrtc/lab.py)
}

# scheme(s) each URL variable accepts, and an example shown when it is wrong
_SCHEMES: dict[str, tuple[tuple[str, ...], str]] = {
    "REDIS_URL": (("redis", "rediss"), "redis://127.0.0.1:6379/0"),
    "AMQP_URL": (("amqp", "amqps"), "amqp://guest:guest@127.0.0.1:5672/"),
    "RABBITMQ_MANAGEMENT_URL": (("http", "https"), "http://guest:guest@127.0.0.1:15672/"),
    "DATABASE_URL": (("postgresql", "postgres"), "postgresql://postgres@127.0.0.1:5432/postgres"),
    "SIGNALING_URL": (("http", "https"), "http://127.0.0.1:3000"),
    "SIGNALING_BROWSER_URL": (("http", "https"), "http://127.0.0.1:3000"),
}

_NAMESPACE_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


PLACEHOLDER = "change-me"  # what .env.example ships with for each secret: never a real value


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a `.env` file with python-dotenv; a line it cannot read is a :class:`ConfigError`.

    ``KEY=value`` lines, ``#`` comments, ``export``, quotes; no ``${VAR}`` expansion.
    """
    from dotenv.parser import parse_stream

    values: dict[str, str] = {}
    if not path.is_file():
        return values
    with path.open() as stream:
        for binding in parse_stream(stream):
            line = binding.original
            if binding.error or (binding.key is not None and binding.value is None):
                raise ConfigError(f"{path}:{line.line}: expected KEY=value, got {line.string.strip()!r}")
            if binding.key is not None:
                values[binding.key] = binding.value or ""
    return values


def default_namespace(user: str | None = None) -> str:
    """``ws_<user>``, lower-cased, with anything unsafe turned into ``_``."""
    try:
        user = user or getpass.getuser()
    except Exception:  # no user database entry (some containers)
        user = "learner"
    slug = re.sub(r"[^a-z0-9_]+", "_", user.lower()).strip("_") or "learner"
    return f"ws_{slug}"[:40]


@dataclass(frozen=True)
class Namespace:
    """A prefix that keeps one learner's (or one test's) objects apart."""

    name: str

    def __post_init__(self) -> None:
        if not _NAMESPACE_RE.match(self.name):
            raise ConfigError(
                f"WORKSHOP_NAMESPACE={self.name!r} must be 1-40 characters of a-z, 0-9 "
                "and _, starting with a letter (e.g. ws_alice)"
            )

    def key(self, *parts: str) -> str:
        """A Redis key or channel: ``ws_alice:user_events``."""
        return ":".join((self.name, *parts))

    def amqp(self, *parts: str) -> str:
        """An exchange or queue name: ``ws_alice.events``."""
        return ".".join((self.name, *parts))

    @property
    def schema(self) -> str:
        """The PostgreSQL schema that holds this namespace's tables."""
        return self.name

    def child(self, suffix: str) -> Namespace:
        """A sub-namespace, e.g. one per test or per notebook."""
        return Namespace(f"{self.name}_{suffix}"[:40])

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Settings:
    redis_url: str
    amqp_url: str
    rabbitmq_management_url: str
    database_url: str
    turn_url: str
    turn_secret: str
    signaling_url: str
    namespace: Namespace
    signaling_secret: str = ""  # signs the signaling server's room tokens (TURN_SECRET is coturn's alone)
    # where a browser on the learner's machine reaches that server, when not at SIGNALING_URL
    # (in Docker: the port compose publishes on 127.0.0.1, while the lab uses http://signaling:3000)
    signaling_browser_url: str = ""

    @property
    def turn_host_port(self) -> tuple[str, int]:
        """Host and port of ``TURN_URL`` (``turn:host:port``)."""
        return _parse_turn(self.turn_url)


def _check_url(var: str, value: str) -> str:
    schemes, example = _SCHEMES[var]
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise ConfigError(f"{var}={value!r} is not a {schemes[0]}:// URL (e.g. {example})")
    try:
        parts.port  # noqa: B018 - raises on a non-numeric port
    except ValueError:
        raise ConfigError(f"{var}={value!r} has a port that is not a number (e.g. {example})") from None
    return value


def _parse_turn(value: str) -> tuple[str, int]:
    m = re.fullmatch(r"turns?:([^:?\s]+|\[[0-9a-fA-F:]+\])(?::(\d+))?(?:\?transport=(udp|tcp))?", value)
    if not m:
        raise ConfigError(f"TURN_URL={value!r} is not a turn: URL (e.g. turn:127.0.0.1:3478)")
    host = m.group(1).strip("[]")
    return host, int(m.group(2) or 3478)


def settings(env: dict[str, str] | None = None, dotenv: Path | str | None = None) -> Settings:
    """Read the settings: process environment first, then `.env`, then defaults.

    ``env`` replaces the process environment (tests use it); ``dotenv`` is the
    path of the `.env` file (default: ``$WORKSHOP_ENV_FILE`` or ``./.env`` or the
    repository's ``.env``).
    """
    env = dict(os.environ if env is None else env)
    path = Path(dotenv) if dotenv else _find_dotenv(env)
    file_values = read_dotenv(path) if path else {}

    def get(var: str, default: str = "") -> str:
        if var in env:
            return env[var]
        return file_values.get(var, DEFAULTS.get(var, default))

    for var in _SCHEMES:
        if get(var) or var not in ("SIGNALING_URL", "SIGNALING_BROWSER_URL"):
            _check_url(var, get(var))
    _parse_turn(get("TURN_URL"))
    return Settings(
        redis_url=get("REDIS_URL"),
        amqp_url=get("AMQP_URL"),
        rabbitmq_management_url=get("RABBITMQ_MANAGEMENT_URL"),
        database_url=get("DATABASE_URL"),
        turn_url=get("TURN_URL"),
        turn_secret=get("TURN_SECRET"),
        signaling_url=get("SIGNALING_URL"),
        namespace=Namespace(get("WORKSHOP_NAMESPACE") or default_namespace()),
        signaling_secret=get("SIGNALING_SECRET"),
        signaling_browser_url=get("SIGNALING_BROWSER_URL"),
    )


def state_dir() -> Path:
    """Where logs, pid files and ``started.json`` live (``$WORKSHOP_STATE_DIR`` or ``.workshop/``)."""
    return Path(os.environ.get("WORKSHOP_STATE_DIR") or repo_root() / ".workshop")


def repo_root() -> Path:
    """The checkout this package lives in (where `.env`, `notebooks/`... are)."""
    return Path(__file__).resolve().parent.parent


def _find_dotenv(env: dict[str, str]) -> Path | None:
    if env.get("WORKSHOP_ENV_FILE"):
        return Path(env["WORKSHOP_ENV_FILE"])
    for candidate in (Path.cwd() / ".env", Path.cwd().parent / ".env", repo_root() / ".env"):
        if candidate.is_file():
            return candidate
    return None
