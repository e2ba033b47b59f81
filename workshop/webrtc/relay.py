"""A throw-away coturn on a free loopback port, for tests and a self-contained notebook.

It uses the same configuration as ``workshop up`` (:func:`workshop.infra.coturn.turnserver_config`:
time-limited credentials, loopback only, ``allow-loopback-peers`` because every peer
of the course lives on this machine — a real deployment must not carry that line)::

    async with TurnServer(secret) as turn:
        turn.url          # 'turn:127.0.0.1:40123'
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from workshop.errors import WorkshopError
from workshop.infra.coturn import turnserver_config


def _die_with_parent() -> None:  # pragma: no cover — runs in the child, between fork and exec
    """Linux: SIGTERM the turnserver when the kernel (or test) that started it dies without cleaning up."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def free_udp_tcp_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on ``host`` (coturn listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = udp.getsockname()[1]
            with socket.socket() as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
        return port
    raise WorkshopError("no free port for a TURN server")


class TurnServer:
    """``turnserver`` started with our config in a temporary folder; stopped (and removed) on exit."""

    def __init__(self, secret: str, host: str = "127.0.0.1", port: int | None = None, timeout: float = 5.0) -> None:
        self.secret, self.host, self.timeout = secret, host, timeout
        self.port = port or free_udp_tcp_port(host)
        self.proc: subprocess.Popen | None = None
        self._dir: tempfile.TemporaryDirectory | None = None

    @property
    def url(self) -> str:
        return f"turn:{self.host}:{self.port}"

    async def __aenter__(self) -> "TurnServer":
        binary = shutil.which("turnserver") or "/usr/bin/turnserver"
        if not Path(binary).is_file():
            raise WorkshopError("coturn is not installed: apt-get install coturn (or use `workshop up`)")
        self._dir = tempfile.TemporaryDirectory(prefix="turn-")
        d = Path(self._dir.name)
        conf = d / "turnserver.conf"
        conf.write_text(turnserver_config(self.secret, self.host, self.port, d))
        conf.chmod(0o600)
        self.proc = subprocess.Popen([binary, "-c", str(conf)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     preexec_fn=_die_with_parent)
        deadline = time.monotonic() + self.timeout
        while True:  # ready when its TCP listener accepts
            if self.proc.poll() is not None:
                log = (d / "turnserver.log").read_text(errors="replace") if (d / "turnserver.log").exists() else ""
                await self.__aexit__()
                raise WorkshopError(f"turnserver exited at once (code {self.proc.returncode}): {log[-200:]!r}")
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), 0.5)
                writer.close()
                return self
            except (OSError, asyncio.TimeoutError):
                if time.monotonic() > deadline:
                    await self.__aexit__()
                    raise WorkshopError(f"turnserver did not listen on {self.host}:{self.port} "
                                        f"within {self.timeout:g} s") from None
                await asyncio.sleep(0.05)

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(asyncio.to_thread(self.proc.wait), 3)
            except asyncio.TimeoutError:
                self.proc.kill()
                await asyncio.to_thread(self.proc.wait)
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
