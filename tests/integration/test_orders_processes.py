"""The services as separate processes (``python -m workshop.orders.<name>``), over real HTTP."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from dataclasses import replace

import httpx
import pytest

from workshop.orders import processes
from workshop.orders.system import SERVICES
from workshop.process import free_port


@pytest.mark.timeout(120)
async def test_five_processes_serve_an_order_end_to_end(ws_settings):
    from workshop.orders import db

    pool = await db.open_pool(ws_settings, max_size=2)
    await db.seed_stock(pool, {"BOOK": 10})
    await pool.close()
    port = free_port()
    procs = []
    try:
        for name in SERVICES:
            extra = ("--port", str(port)) if name == "order" else ()
            procs.append(await processes.start(name, ws_settings, *extra))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            for _ in range(50):  # uvicorn may need a moment after the consumer is up
                try:
                    r = await http.post(
                        "/orders", json={"user_id": "alice", "items": [{"sku": "BOOK", "qty": 1, "price": 10}]}
                    )
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.1)
            assert r.status_code == 201, r.text
            order_id = r.json()["order_id"]
            deadline = time.monotonic() + 30
            status = None
            while time.monotonic() < deadline:
                status = (await http.get(f"/orders/{order_id}")).json()["status"]
                if status == "shipped":
                    break
                await asyncio.sleep(0.1)
            assert status == "shipped"
    finally:
        codes = [await processes.stop(p) for p in procs]
    assert codes == [0] * len(SERVICES)  # SIGTERM: a clean stop


def test_a_service_without_rabbitmq_says_so_in_one_line(ws_settings):
    env = processes.child_env(replace(ws_settings, amqp_url=f"amqp://guest:guest@127.0.0.1:{free_port()}/"))
    proc = subprocess.run(
        [sys.executable, "-m", "workshop.run.orders", "payment"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("payment: RabbitMQ is not reachable at amqp://guest:***@127.0.0.1:")
    assert "Start it:" in lines[0]
