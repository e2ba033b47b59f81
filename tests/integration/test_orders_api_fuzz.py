"""Schemathesis against the order API: every check, every phase, finds nothing.

The API runs in-process (ASGI) over the real order service — PostgreSQL and
RabbitMQ in this test's namespace — with a fixed seed, so a run is repeatable.
``ORDERS_FUZZ_EXAMPLES=200`` runs more examples per operation (by hand; the
default keeps the test well under a minute).

One rule of the API cannot be written in JSON Schema: a ``total``, when given,
must equal the sum of ``qty * price``. The ``map_case`` hook below makes the
*valid* (positive) cases Schemathesis generates obey it, as Schemathesis's
documentation advises for cross-field rules; invalid (negative) cases are left
as generated, and no check is switched off or loosened.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema
from schemathesis.python import asgi

from workshop.orders.api import create_app
from workshop.orders.system import OrderSystem

EXAMPLES = int(os.environ.get("ORDERS_FUZZ_EXAMPLES", "50"))


class _Started:
    """Stands for the order service until the app's lifespan has started it (in Schemathesis's event loop)."""

    target: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


def _app(settings) -> Any:
    orders = _Started()
    app = create_app(orders)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any):
        system = OrderSystem(settings, services=("order",))  # takes orders and publishes them; no saga needed
        await system.start()
        orders.target = system.orders
        yield
        await system.stop()

    app.router.lifespan_context = lifespan
    return app


def _consistent_total(ctx: Any, case: Any) -> Any:
    """A valid order's ``total`` (when it has one) is the sum of its items — the one rule JSON Schema can't say."""
    body = case.body
    if case.meta and case.meta.generation.mode.is_positive and isinstance(body, dict) and body.get("total") is not None:
        body["total"] = float(sum(Decimal(str(i["price"])) * int(i["qty"]) for i in body["items"]))
    return case


def fuzz(
    app: Any, *, examples: int, seed: int = 1, map_case: Callable[[Any, Any], Any] | None = None
) -> tuple[list[str], int]:
    """Run every Schemathesis phase and check against ``app``; returns (failures, requests made).

    Repeatable: a fixed seed, deterministic generation, no example database and
    no cache carried over from an earlier run.
    """
    config = SchemathesisConfig.from_dict(
        {
            "seed": seed,
            "cache": {"enabled": False},
            "generation": {"max-examples": examples, "deterministic": True, "database": "none"},
        }
    )
    config.projects.override.checks.update(included_check_names=["all"])
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    if map_case is not None:
        schema.hook("map_case")(map_case)
    failures, requests = [], 0
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            requests += len(recorder.interactions)
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    if check.status != Status.SUCCESS:
                        case = recorder.cases[case_id].value
                        response = recorder.find_response(case_id=case_id)
                        failures.append(
                            f"{event.phase} {check.name}: {case.method} {case.formatted_path} "
                            f"body={case.body!r:.200} headers={case.headers} -> "
                            f"{response.status_code if response else None} "
                            f"{response.content[:200] if response else b''!r}"
                        )
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            failures.append(f"error: {event!r:.500}")
        elif isinstance(event, events.EngineFinished):
            failures += [f"after run: {f}" for f in event.failures]
    return failures, requests


async def test_schemathesis_finds_nothing(ws_settings):
    app = _app(ws_settings)
    try:
        failures, requests = await asyncio.to_thread(fuzz, app, examples=EXAMPLES, map_case=_consistent_total)
    finally:
        await asyncio.to_thread(asgi.shutdown_lifespans)  # the pool closes before the namespace is removed
    assert failures == []
    assert requests > 100  # it did exercise the API
