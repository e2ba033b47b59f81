"""Processes: how every long-running piece of the course runs, and how a throw-away server is spawned.

Two halves, one for each side of a process boundary.

**Inside a process** — every service a learner or compose starts (chapter 1's five
services, the relays, projectors and APIs of chapter 4, chapter 2's publisher,
subscribers and consumers, chapter 5's signaling server) is an ``async def main(stop)``
handed to :func:`run` by a small entry module in :mod:`workshop.run`::

    async def main(stop: asyncio.Event) -> None:
        async with Something(...) as thing:     # open
            await stop.wait()                    # SIGTERM or Ctrl-C sets it
                                                 # close: the `async with` ends
    raise SystemExit(run("payment", main))

:func:`run` gives each process the same behaviour: logging to stderr prefixed with its
name, SIGTERM/SIGINT set ``stop``, ``main`` has ``grace`` seconds to return after that
(a stop never hangs), and a :class:`~workshop.errors.WorkshopError` is one line and exit
code 1 — never a traceback.

**Outside** — a notebook, a test or ``workshop lab`` spawning a server it owns (a
private redis-server, a coturn, a RabbitMQ node, JupyterLab) uses :class:`Server`: start,
wait until it answers (with a deadline), show the last line of its log when it does not,
and always stop it — also when the code using it fails, and also when the Python
process that started it dies (the child gets SIGTERM from the kernel).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any

from workshop.errors import WorkshopError
from workshop.waiting import WaitTimeout, stop_task, until, until_sync, within

Main = Callable[[asyncio.Event], Coroutine[Any, Any, int | None]]


# --- ports ----------------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1", *, udp: bool = False, start: int | None = None, tries: int = 50) -> int:
    """A port on ``host`` on which nothing listens (with ``udp=True``: free for both TCP and UDP).

    The kernel picks it (bind to port 0) — or, with ``start``, the first free one from
    ``start`` on (``workshop lab``: 8888, else 8889 …). Another program could still take it
    before we use it, which is why every :class:`Server` start fails with a clear line if it does.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if start is not None:
        for port in range(start, start + tries):
            with socket.socket(family) as sock:
                try:
                    sock.bind((host, port))
                except OSError:
                    continue
                return port
        raise WorkshopError(f"ports {start}-{start + tries - 1} are all taken on {host}; pass another port")
    for _ in range(tries):
        with socket.socket(family, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM) as first:
            first.bind((host, 0))
            port = first.getsockname()[1]
            if not udp:
                return port
            with socket.socket(family, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port
    raise WorkshopError(f"no free TCP+UDP port found on {host}")


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts a TCP connection on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout):
            return True
    except OSError:
        return False


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when ``url`` answers with a 2xx or 3xx status."""
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout):  # noqa: S310 - our own server's URL
            return True
    except OSError:
        return False


# --- throw-away servers ---------------------------------------------------------------------


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, between fork and exec
    """Linux: the child gets SIGTERM when the process that started it dies without cleaning up."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Server:
    """A child process that is a server: spawned, waited for until it answers, always stopped.

        with Server("redis-server", ["redis-server", "--port", str(port)],
                    ready=lambda: port_open("127.0.0.1", port), log=tmp / "redis.log") as redis:
            ...                                   # it answers here
        # stopped here, also after an exception

    ``ready()`` is polled until it returns something truthy (within ``startup_timeout``).
    ``log`` is where the server's stdout and stderr go (a server that writes its own log
    file can be given that file instead): its last line is quoted when the server exits at
    once or never answers. ``await astart()`` / ``async with`` do the same from asyncio.
    ``detach=True`` is for a daemon that must outlive this process (the classroom's hub): its
    own session, no parent-death signal; once started, stopping it is the caller's business.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        ready: Callable[[], Any],
        log: Path | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        output: Path | None = None,
        detach: bool = False,
    ) -> None:
        self.name, self.argv, self.ready, self.detach = name, list(argv), ready, detach
        self.log, self.env, self.cwd = log, env, cwd
        self.output = output if output is not None else log  # where stdout/stderr go
        self.startup_timeout, self.stop_timeout = startup_timeout, stop_timeout
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 1) -> str:
        """The last ``lines`` non-empty lines of the log, or ``""``."""
        if self.log is None or not self.log.is_file():
            return ""
        text = self.log.read_text(errors="replace").strip().splitlines()
        return " | ".join(line.strip() for line in text[-lines:] if line.strip())[:300]

    def start(self) -> Server:
        """Spawn the server and return once ``ready()`` is true; a one-line error otherwise."""
        if self.running:
            return self
        self._spawn()
        try:
            until_sync(
                self._answers,
                timeout=self.startup_timeout,
                every=0.1,
                what=f"{self.name} to answer",
                detail=self.log_tail,
            )
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self) -> None:
        """Start the child from *this* thread: Linux sends the parent-death signal when the thread
        that forked the child ends, not only the process — so never spawn from a short-lived thread."""
        out: Any = subprocess.DEVNULL
        if self.output is not None:
            self.output.parent.mkdir(parents=True, exist_ok=True)
            out = self.output.open("ab")
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=None if self.env is None else dict(self.env),
                cwd=self.cwd,
                start_new_session=self.detach,
                preexec_fn=None if self.detach else _die_with_parent,
            )
        except OSError as exc:
            raise WorkshopError(f"{self.name} could not be started: {exc.strerror or exc}") from None
        finally:
            if out is not subprocess.DEVNULL:
                out.close()

    def _answers(self) -> Any:
        if self.proc is not None and self.proc.poll() is not None:
            raise WorkshopError(
                f"{self.name} exited at once (code {self.proc.returncode}): {self.log_tail() or 'nothing in its log'}"
            )
        return self.ready()

    def stop(self) -> None:
        """SIGTERM, wait up to ``stop_timeout`` seconds, then SIGKILL. Safe to call twice."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def signal(self, sig: int) -> None:
        """Send ``sig`` (SIGKILL to crash it, SIGSTOP to freeze it, SIGCONT to thaw it)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    async def astart(self) -> Server:
        """:meth:`start` from asyncio: spawned in the event loop's thread (which outlives the server),
        then ``ready()`` polled in a worker thread so the loop keeps running meanwhile."""
        if self.running:
            return self
        self._spawn()
        try:
            await until(
                lambda: asyncio.to_thread(self._answers),
                timeout=self.startup_timeout,
                every=0.1,
                what=f"{self.name} to answer",
                detail=self.log_tail,
            )
        except BaseException:
            await self.astop()
            raise
        return self

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Server:
        return await self.astart()

    async def __aexit__(self, *exc: object) -> None:
        await self.astop()


# --- the one way a process of the course runs -----------------------------------------------


def run(name: str, main: Main, *, grace: float = 10.0, verbose: bool = False) -> int:
    """Run ``main(stop)`` as this process; return its exit code (see the module docstring)."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format=f"{name}: %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    try:
        code = asyncio.run(_supervise(name, main, grace))
    except WorkshopError as exc:
        print(f"{name}: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:  # a second Ctrl-C while stopping
        return 130
    finally:
        sys.stdout.flush()
    return int(code or 0)


async def _supervise(name: str, main: Main, grace: float) -> int | None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(main(stop), name=name)
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not task.done():  # asked to stop: main has `grace` seconds to close what it opened
        try:
            return await within(asyncio.shield(task), grace, what=f"{name} to stop after SIGTERM")
        except WaitTimeout:
            await stop_task(task, timeout=2.0, raise_error=False)
            raise
    return task.result()


def exit_now(code: int) -> None:
    """End the process at once with ``code``, skipping the interpreter's teardown of every module.

    For entry modules whose process has closed everything it opened: on a busy machine that
    teardown takes over a second, which a ``docker stop`` or a test waiting for the exit feels.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


async def serve_http(app: Any, host: str, port: int, stop: asyncio.Event, *, grace: float = 5.0) -> None:
    """Serve the ASGI ``app`` on ``host:port`` (uvicorn, in this event loop) until ``stop`` is set."""
    import uvicorn

    class Server(uvicorn.Server):
        def capture_signals(self) -> Any:  # run() owns SIGTERM and SIGINT: uvicorn must not take them over
            return contextlib.nullcontext()

    server = Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:  # bound here, not by uvicorn: a taken port is one line, not uvicorn's sys.exit(1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise WorkshopError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    serving = asyncio.create_task(server.serve(sockets=[sock]), name=f"http {host}:{port}")
    waiting = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, waiting}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if serving.done():  # the server ended by itself: the app's start-up failed
        serving.result()
        if not server.started:
            raise WorkshopError(f"the HTTP app on {host}:{port} failed to start (see the log above)")
        return
    server.should_exit = True
    try:
        await within(serving, grace, what=f"the HTTP server on {host}:{port} to stop")
    except WaitTimeout:
        await stop_task(serving, raise_error=False)
