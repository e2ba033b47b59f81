"""Shared fixtures.

* Tests are marked by folder (nbval's notebook cells are ``notebooks``): ``tests/unit`` → ``unit``, ``tests/integration`` →
  ``integration``, ``tests/notebooks`` → ``notebooks``, ``tests/e2e`` → ``e2e``.
* ``namespace`` gives each test its own prefix on the real servers and removes
  what the test created afterwards, so tests never see each other's data.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from workshop.config import Namespace, Settings
from workshop.config import settings as load_settings

ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = Path(str(item.fspath)).resolve()
        if path.suffix == ".ipynb":  # nbval cells of notebooks/ and solutions/
            item.add_marker(pytest.mark.notebooks)
            continue
        parts = path.relative_to(ROOT / "tests").parts if path.is_relative_to(ROOT / "tests") else ()
        if parts and parts[0] in ("unit", "integration", "notebooks", "e2e"):
            item.add_marker(getattr(pytest.mark, parts[0]))


@pytest.fixture
def namespace() -> Namespace:
    """A fresh namespace for one test: ``ws_t_<8 hex>``."""
    return Namespace(f"ws_t_{uuid.uuid4().hex[:8]}")


@pytest.fixture
async def ws_settings(namespace: Namespace) -> Settings:
    """Settings pointing at the local services, in this test's own namespace.

    Everything the test leaves in the namespace (PostgreSQL schema, Redis keys,
    RabbitMQ exchanges and queues) is deleted afterwards.
    """
    s = replace(load_settings(), namespace=namespace)
    yield s
    from workshop.infra.reset import reset_namespace

    await reset_namespace(s, quiet=True)
