"""Run services as separate processes — the second of the three ways, same code path.

    proc = await start("payment", settings)       # python -m workshop.run.orders payment
    proc.send_signal(signal.SIGKILL)              # the chaos experiment
    await stop(proc)

Each process reads its namespace and URLs from the environment, exactly as a
compose service would (``docker compose --env-file .env -f docker/compose.yml --profile orders up --scale payment=3``).
"""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import sys

from workshop.config import Settings
from workshop.waiting import WaitTimeout, within


def child_env(s: Settings) -> dict[str, str]:
    """This process's environment, plus ``s``'s namespace and URLs: a child sees what we see."""
    return {
        **os.environ,
        "WORKSHOP_NAMESPACE": s.namespace.name,
        "AMQP_URL": s.amqp_url,
        "DATABASE_URL": s.database_url,
    }


async def start(service: str, s: Settings, *args: str, timeout: float = 30.0) -> asyncio.subprocess.Process:
    """Start ``python -m workshop.run.orders <service>`` in ``s``'s namespace; returns once it consumes."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workshop.run.orders",
        service,
        *args,
        env=child_env(s),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    try:
        line = await within(proc.stdout.readline(), timeout, what=f"the {service} process to start consuming")
    except WaitTimeout:
        proc.kill()
        raise
    if f"{service}: consuming".encode() not in line:
        rest = await asyncio.wait_for(proc.stdout.read(), 5)
        raise RuntimeError(f"{service} process failed to start: {(line + rest).decode(errors='replace')[-500:]}")
    # keep reading its output (a full pipe would block the process); the last lines stay on proc.log
    proc.log = collections.deque(maxlen=200)  # type: ignore[attr-defined]
    proc.log_reader = asyncio.create_task(_drain(proc))  # type: ignore[attr-defined]
    return proc


async def _drain(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdout is not None
    while line := await proc.stdout.readline():
        proc.log.append(line.decode(errors="replace").rstrip())  # type: ignore[attr-defined]


async def stop(proc: asyncio.subprocess.Process, timeout: float = 10.0) -> int:
    """SIGTERM (a clean stop: handlers in flight finish), SIGKILL if it takes longer than ``timeout``."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    await _reader_done(proc)
    return proc.returncode  # type: ignore[return-value]


async def kill(proc: asyncio.subprocess.Process, timeout: float = 10.0) -> int:
    """SIGKILL: no clean-up, no acks — what a crash or the OOM killer does."""
    proc.send_signal(signal.SIGKILL)
    code = await within(proc.wait(), timeout, what="the killed process to exit")
    await _reader_done(proc)
    return code


async def _reader_done(proc: asyncio.subprocess.Process) -> None:
    reader = getattr(proc, "log_reader", None)
    if reader is not None:
        try:
            await asyncio.wait_for(reader, 5)
        except TimeoutError:
            reader.cancel()
