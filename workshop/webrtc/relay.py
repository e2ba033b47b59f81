"""A throw-away coturn on a free loopback port, for tests and a self-contained notebook.

It uses the same configuration as ``workshop up`` (:func:`workshop.infra.coturn.turnserver_config`:
time-limited credentials, loopback only, ``allow-loopback-peers`` because every peer
of the course lives on this machine — a real deployment must not carry that line)::

    async with TurnServer(secret) as turn:
        turn.url          # 'turn:127.0.0.1:40123'
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from workshop.errors import WorkshopError
from workshop.infra.coturn import turnserver_config
from workshop.process import Server, free_port, port_open


class TurnServer:
    """``turnserver`` started with our config in a temporary folder; stopped (and removed) on exit."""

    def __init__(self, secret: str, host: str = "127.0.0.1", port: int | None = None, timeout: float = 5.0) -> None:
        self.secret, self.host, self.timeout = secret, host, timeout
        self.port = port or free_port(host, udp=True)  # coturn listens on both UDP and TCP
        self.server: Server | None = None
        self._dir: tempfile.TemporaryDirectory | None = None

    @property
    def url(self) -> str:
        return f"turn:{self.host}:{self.port}"

    async def __aenter__(self) -> TurnServer:
        binary = shutil.which("turnserver") or "/usr/bin/turnserver"
        if not Path(binary).is_file():
            raise WorkshopError("coturn is not installed: apt-get install coturn (or use `workshop up`)")
        self._dir = tempfile.TemporaryDirectory(prefix="turn-")
        d = Path(self._dir.name)
        conf = d / "turnserver.conf"
        conf.write_text(turnserver_config(self.secret, self.host, self.port, d))
        conf.chmod(0o600)
        self.server = Server(
            f"turnserver on {self.host}:{self.port}",
            [binary, "-c", str(conf)],
            ready=lambda: port_open(self.host, self.port),  # ready when its TCP listener accepts
            log=d / "turnserver.log",
            startup_timeout=self.timeout,
            stop_timeout=3,
        )
        try:
            await self.server.astart()
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.server is not None:
            await self.server.astop()
            self.server = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
