"""Who is in the class, and each learner's own credentials.

A learner ``alice`` gets the namespace ``ws_alice`` and, on every service, an
account of that name with its own random password. The credentials are kept in
``<state dir>/learners/alice.json`` (mode 0600, readable by the hub's user only)
and handed to alice's Jupyter server as the environment variables that
:mod:`workshop.config` already reads — so the chapters run unchanged.

Names are ``a-z`` and digits only (no ``_``): ``ws_al`` then can never be a prefix
of another learner's namespace, which is what the per-learner patterns rely on
(``ws_al:*`` and ``ws_al_*`` for the notebooks' child namespaces ``ws_al_ch02``).
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from workshop.config import Namespace, Settings
from workshop.errors import ConfigError

NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,19}$")


def check_name(name: str) -> str:
    """``name`` if it is a valid learner name, else a :class:`ConfigError` saying what is allowed."""
    if not NAME_RE.match(name):
        raise ConfigError(
            f"learner name {name!r}: use 1-20 characters a-z and 0-9, starting with a letter (e.g. alice, s07)"
        )
    return name


def class_names(spec: str) -> list[str]:
    """``"12"`` -> ``s01 … s12``; ``"alice,bob"`` -> ``["alice", "bob"]`` (checked, no duplicates)."""
    spec = spec.strip()
    if spec.isdigit():
        count = int(spec)
        if not 1 <= count <= 200:
            raise ConfigError(f"--learners {spec}: give a number from 1 to 200, or a list of names")
        return [f"s{i:0{max(2, len(str(count)))}d}" for i in range(1, count + 1)]
    names = [check_name(n.strip()) for n in spec.split(",") if n.strip()]
    if not names or len(set(names)) != len(names):
        raise ConfigError(f"--learners {spec!r}: give a number, or distinct names separated by commas")
    return names


SECRETS = ("postgres", "rabbitmq", "redis", "hub", "signaling")


@dataclass(frozen=True)
class Learner:
    """One learner: a name and one random secret per service.

    ``hub`` is the learner's first password on the hub's login page (handed out by the
    instructor, changed by the learner at /hub/change-password); ``signaling`` signs the
    room tokens of the learner's own chapter-5 signaling server (``SIGNALING_SECRET``).
    """

    name: str
    postgres: str
    rabbitmq: str
    redis: str
    hub: str
    signaling: str

    @classmethod
    def new(cls, name: str) -> Learner:
        return cls(check_name(name), *(secrets.token_urlsafe(24) for _ in SECRETS))

    @property
    def namespace(self) -> Namespace:
        return Namespace(f"ws_{self.name}")

    @property
    def account(self) -> str:
        """The login on every service: the namespace's name."""
        return self.namespace.name

    @property
    def database(self) -> str:
        """The learner's own PostgreSQL database (same name as its role)."""
        return self.account

    def env(self, admin: Settings) -> dict[str, str]:
        """The environment of this learner's Jupyter server, built from the instructor's settings."""
        ns = self.account
        return {
            "WORKSHOP_NAMESPACE": ns,
            "DATABASE_URL": with_login(admin.database_url, ns, self.postgres, "/" + self.database),
            "AMQP_URL": with_login(admin.amqp_url, ns, self.rabbitmq, "/" + ns),
            "RABBITMQ_MANAGEMENT_URL": with_login(admin.rabbitmq_management_url, ns, self.rabbitmq),
            "REDIS_URL": with_login(admin.redis_url, ns, self.redis),
            "TURN_URL": admin.turn_url,
            "TURN_SECRET": admin.turn_secret,
            "SIGNALING_URL": admin.signaling_url,
            "SIGNALING_SECRET": self.signaling,  # room tokens only this learner's server can sign
            "WORKSHOP_ENV_FILE": os.devnull,  # never fall back to the instructor's .env
        }


def with_login(url: str, user: str, password: str, path: str | None = None) -> str:
    """``url`` with its ``user:password@`` (and optionally its path) replaced."""
    parts = urlsplit(url)
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else (parts.hostname or "")
    netloc = f"{user}:{password}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc, path=parts.path if path is None else path))


class Roster:
    """The learners' credentials on disk: one 0600 JSON file each, in a 0700 folder."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory) / "learners"

    def _path(self, name: str) -> Path:
        return self.directory / f"{check_name(name)}.json"

    def get(self, name: str) -> Learner | None:
        path = self._path(name)
        if not path.is_file():
            return None
        stored = json.loads(path.read_text())
        missing = [field for field in SECRETS if field not in stored]
        if missing:  # a class provisioned before a secret existed: add it, keep the others
            stored.update({field: secrets.token_urlsafe(24) for field in missing})
            self._save(Learner(**stored))
        return Learner(**stored)

    def _save(self, learner: Learner) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.directory, 0o700)
        fd = os.open(self._path(learner.name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(asdict(learner), out)

    def ensure(self, name: str) -> Learner:
        """The stored learner, or a new one with fresh passwords (saved before it is returned)."""
        learner = self.get(name)
        if learner is None:
            learner = Learner.new(name)
            self._save(learner)
        return learner

    def all(self) -> list[Learner]:
        return [learner for name in self.names() if (learner := self.get(name))]

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.directory.glob("*.json")) if self.directory.is_dir() else []

    def remove(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)
