"""The coturn that ``workshop up`` starts, and how checkouts on one machine share it.

coturn accepts a TURN password only if it was signed with its one
``static-auth-secret``; each checkout signs with the ``TURN_SECRET`` in its
`.env`. Several checkouts on one machine (two learners, a learner and an
instructor, a second clone) share the one coturn on port 3478, so they must
share its secret. The rule: **the secret belongs to the coturn that runs.**

- ``workshop up`` writes the secret into that coturn's config file,
  ``<state dir>/turnserver.conf`` (owner-only), and passes the file with ``-c``.
- ``workshop env`` in any checkout looks for a running coturn started that way
  on its ``TURN_URL`` port (the command line names the config file) and, if its
  secret differs, copies it into this checkout's `.env`.
- The doctor, on a 401, names the checkout whose coturn is running.

A coturn started by someone else (another user, Docker, the system) cannot be
read: its TURN_SECRET has to be asked for, or a different ``TURN_URL`` port used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


def turnserver_config(secret: str, host: str, port: int, d: Path) -> str:
    """coturn's configuration for the workshop: REST-API credentials, loopback only, no TLS."""
    return "\n".join(
        [
            f"listening-ip={host}",
            f"listening-port={port}",
            f"relay-ip={host}",
            "realm=workshop",
            "use-auth-secret",  # time-limited credentials (workshop.infra.turn)...
            f"static-auth-secret={secret}",  # ...signed with this shared secret
            "fingerprint",
            "allow-loopback-peers",  # the course's peers all live on this machine
            "no-tls",
            "no-dtls",
            "no-cli",
            f"log-file={d / 'turnserver.log'}",
            "simple-log",
            f"pidfile={d / 'turnserver.pid'}",
            f"db={d / 'turnserver.db'}",
            "",
        ]
    )


@dataclass(frozen=True)
class RunningCoturn:
    """A turnserver process started with one of our config files."""

    pid: int
    config: Path
    secret: str

    @property
    def checkout(self) -> Path:
        """The checkout that started it (the config lives in its ``.workshop/``)."""
        state = self.config.parent
        return state.parent if state.name == ".workshop" else state


def _read_config(path: Path) -> dict[str, str]:
    pairs = (line.partition("=") for line in path.read_text().splitlines())
    return {key.strip(): value.strip() for key, sep, value in pairs if sep}


def find_running(host: str, port: int) -> RunningCoturn | None:
    """The coturn started by ``workshop up`` (from any checkout) that listens on ``port``, if any.

    Reads each process's command line in ``/proc``; a config file we may not
    read (another user's) is skipped. Only local hosts: a remote coturn is not ours to read.
    """
    if host not in LOCAL_HOSTS:
        return None
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
            if Path(argv[0]).name != "turnserver" or "-c" not in argv[:-1]:
                continue
            config = Path(argv[argv.index("-c") + 1])
            if not config.is_absolute():
                config = (proc / "cwd").resolve() / config
            settings = _read_config(config)
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if (
            settings.get("realm") == "workshop"
            and settings.get("listening-port") == str(port)
            and settings.get("static-auth-secret")
        ):
            return RunningCoturn(int(proc.name), config, settings["static-auth-secret"])
    return None
