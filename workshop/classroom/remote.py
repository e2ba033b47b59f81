"""Run a notebook's code cells in a learner's own Jupyter server, through the hub.

What a learner does by pressing "Run all", done by the instructor's API token:
a kernel is started in the learner's server (so it has the learner's Unix
account and environment — credentials included), each code cell goes over the
kernel's WebSocket as an ``execute_request``, and the first error stops the run.

    result = await run_notebook(hub, "alice", Path("notebooks/00_setup.ipynb"))
    result.ok, result.failed_cell, result.error, result.seconds
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import nbformat

from workshop.classroom.hub import Hub
from workshop.waiting import WaitTimeout, within


@dataclass
class RunResult:
    learner: str
    notebook: str
    ok: bool = True
    cells: int = 0
    failed_cell: int | None = None
    error: str = ""
    seconds: float = 0.0
    kernel_id: str = ""
    outputs: list[str] = field(default_factory=list)


def _request(code: str, session: str) -> dict:
    msg_id = uuid.uuid4().hex
    return {
        "header": {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "username": "classroom",
            "session": session,
            "date": "",
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "channel": "shell",
        "buffers": [],
        "content": {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
    }


async def run_notebook(
    hub: Hub, learner: str, notebook: Path, cell_timeout: float = 120, keep_kernel: bool = True
) -> RunResult:
    """Execute ``notebook``'s code cells in a new kernel of ``learner``'s server."""
    cells = [
        c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code" and c.source.strip()
    ]
    return await run_cells(hub, learner, cells, notebook.name, cell_timeout, keep_kernel)


async def run_cells(
    hub: Hub,
    learner: str,
    cells: list[str],
    name: str = "cells",
    cell_timeout: float = 120,
    keep_kernel: bool = True,
    kernel_id: str = "",
) -> RunResult:
    """Execute ``cells`` in ``learner``'s kernel ``kernel_id`` (a new kernel if empty)."""
    result = RunResult(learner, name)
    base = f"{hub.url}/user/{learner}/api"
    headers = {"Authorization": hub.session.headers["Authorization"]}
    started = time.monotonic()
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=None)) as http:
        if kernel_id:
            result.kernel_id = kernel_id
        else:
            async with http.post(
                f"{base}/kernels", json={"name": "python3"}, timeout=aiohttp.ClientTimeout(total=60)
            ) as resp:
                resp.raise_for_status()
                result.kernel_id = (await resp.json())["id"]
        session = uuid.uuid4().hex
        ws_url = f"{base}/kernels/{result.kernel_id}/channels".replace("http", "ws", 1)
        async with http.ws_connect(ws_url, heartbeat=30, max_msg_size=0) as ws:
            for index, code in enumerate(cells):
                request = _request(code, session)
                await ws.send_str(json.dumps(request))
                reply = await _wait_reply(ws, request["header"]["msg_id"], result, cell_timeout)
                result.cells += 1
                if reply.get("status") != "ok":
                    result.ok, result.failed_cell = False, index
                    result.error = result.error or f"{reply.get('ename')}: {reply.get('evalue')}"
                    break
        if not keep_kernel:
            await http.delete(f"{base}/kernels/{result.kernel_id}")
    result.seconds = time.monotonic() - started
    return result


async def _wait_reply(ws: aiohttp.ClientWebSocketResponse, msg_id: str, result: RunResult, timeout: float) -> dict:
    """Collect the cell's output and errors until its ``execute_reply`` *and* the kernel's ``idle``
    status: the reply (shell channel) can overtake the last outputs (IOPub channel); ``idle`` comes
    after every output of the cell."""
    try:
        return await within(_collect(ws, msg_id, result), timeout, what="the cell")
    except WaitTimeout:
        return {"status": "error", "ename": "Timeout", "evalue": f"the cell ran longer than {timeout:g} s"}


async def _collect(ws: aiohttp.ClientWebSocketResponse, msg_id: str, result: RunResult) -> dict:
    reply, idle = None, False
    while reply is None or not idle:
        msg = await ws.receive()
        if msg.type != aiohttp.WSMsgType.TEXT:
            return {"status": "error", "ename": "Disconnected", "evalue": f"kernel channel closed ({msg.type.name})"}
        data = json.loads(msg.data)
        if data.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind, content = data["header"]["msg_type"], data["content"]
        if kind == "stream":
            result.outputs.append(content.get("text", ""))
        elif kind == "error":
            result.error = f"{content.get('ename')}: {content.get('evalue')}"
        elif kind == "execute_reply":
            reply = content
        elif kind == "status" and content.get("execution_state") == "idle":
            idle = True
    return reply
