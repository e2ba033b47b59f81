"""Drive the npm ``socket.io-client`` (tests/node/sio_client.js) from a test: one JSON line per command/event."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from workshop.waiting import until
from workshop.webrtc.vendor import HERE, npm_install

SCRIPT = Path(__file__).resolve().parent.parent / "node" / "sio_client.js"


class NodeClients:
    """Several npm socket.io-client sockets in one ``node`` process, named by ``id``."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls) -> NodeClients:
        npm_install()
        node = shutil.which("node")
        assert node, "node is not installed (apt-get install nodejs)"
        proc = await asyncio.create_subprocess_exec(
            node,
            str(SCRIPT),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "SIO_CLIENT_DIR": str(HERE)},
            limit=2**22,
        )
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            self.events.append(json.loads(line))
            self._changed.set()

    async def send(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        await self.proc.stdin.drain()

    def got(self, id: str, event: str) -> list[Any]:
        return [e["data"] for e in self.events if e["id"] == id and e["event"] == event]

    async def wait_for(self, id: str, event: str, count: int = 1, timeout: float = 5.0) -> list[Any]:
        """Wait until ``id`` has received ``count`` ``event`` events; return them all."""

        async def enough() -> list[Any]:
            while len(self.got(id, event)) < count:
                self._changed.clear()
                await self._changed.wait()
            return self.got(id, event)

        try:
            return await asyncio.wait_for(enough(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"{id} got {len(self.got(id, event))} {event!r}, expected {count}, "
                f"within {timeout} s; last events: {self.events[-3:]}"
            ) from None

    async def connect(self, id: str, url: str) -> str | None:
        """Connect socket ``id``; its sid, or None when the server refused it."""
        await self.send(op="connect", id=id, url=url)
        await until(
            lambda: self.got(id, "connect") or self.got(id, "connect_error"),
            timeout=5,
            what=f"{id}'s connect or connect_error",
        )
        ok = self.got(id, "connect")
        return ok[0] if ok else None

    async def handled(self, id: str) -> None:
        """Return once the server has handled everything ``id`` sent so far.

        The server handles one socket's messages in order, and acknowledges a message
        after its handler ran: an acknowledged ``leave_room`` of a room ``id`` is not in
        changes nothing and comes after all the rest. (Like any message it may be
        dropped by the rate limit; the acknowledgement comes all the same.)
        """
        before = len(self.got(id, "$ack"))
        await self.send(op="emit", id=id, event="leave_room", data="barrier-room-nobody-joined", ack=True)
        await self.wait_for(id, "$ack", count=before + 1)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            await asyncio.wait_for(self.proc.wait(), 5)
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        self._reader.cancel()
