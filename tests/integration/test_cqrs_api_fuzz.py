"""Schemathesis against the write and the read API: every check, every phase, a fixed seed, finds nothing.

Both APIs run in-process (ASGI) over a real :class:`CqrsSystem` (PostgreSQL, Redis,
RabbitMQ in this test's namespace). The read API's ``wait`` is capped at 50 ms here so
that cases asking for a position nobody wrote answer their 503 quickly.
``CQRS_FUZZ_EXAMPLES=200`` runs more examples per operation (by hand).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

from schemathesis.python import asgi

from tests.integration.test_orders_api_fuzz import fuzz
from workshop.cqrs.read_api import ReadSide
from workshop.cqrs.read_api import create_app as read_app
from workshop.cqrs.system import CqrsSystem
from workshop.cqrs.write_api import create_app as write_app

EXAMPLES = int(os.environ.get("CQRS_FUZZ_EXAMPLES", "25"))


class _Started:
    """Stands for the handler / read side until the app's lifespan has started the system."""

    target: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


def _app(settings, side: str) -> Any:
    late = _Started()
    app = write_app(late) if side == "write" else read_app(late, max_wait=0.05)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any):
        system = await CqrsSystem(settings).start()
        late.target = (
            system.handler
            if side == "write"
            else ReadSide(system.store.pool, system.store.schema, system.redis, settings.namespace)
        )
        yield
        await system.stop()

    app.router.lifespan_context = lifespan
    return app


async def _run(settings, side: str) -> tuple[list[str], int]:
    app = _app(settings, side)
    try:
        return await asyncio.to_thread(fuzz, app, examples=EXAMPLES)
    finally:
        await asyncio.to_thread(asgi.shutdown_lifespans)


async def test_schemathesis_finds_nothing_on_the_write_api(ws_settings):
    failures, requests = await _run(ws_settings, "write")
    assert failures == [], "\n".join(failures)
    assert requests > 50


async def test_schemathesis_finds_nothing_on_the_read_api(ws_settings):
    failures, requests = await _run(ws_settings, "read")
    assert failures == [], "\n".join(failures)
    assert requests > 100
