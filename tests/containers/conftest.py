"""The container test runs wherever a container engine can: ``make test`` includes it.

Which engine: Docker when ``docker info`` works, else rootful podman driven by Debian's
``docker-compose`` (``workshop setup test`` installs podman, docker-compose and debootstrap).
``WORKSHOP_CONTAINER_TEST`` decides whether it runs:

* unset (``make test``, a plain ``pytest``): when an engine is usable here; otherwise every
  test of this folder is skipped with one line saying what is missing;
* ``1`` (``make test-containers``): always, and a missing engine is an error;
* ``0``: never (a developer's quick ``pytest`` run on a laptop with Docker, say).

``WORKSHOP_CONTAINER_COLD=1`` empties podman's private image store first (a run from
nothing: the base image, every package download, every layer) — what CI's fresh machine
does anyway.

One stack (a Compose project with throw-away secrets and free host ports) serves the whole
module; it is torn down at the end whatever happened — no container, network or volume of
it is left — and the images stay for the next (warm) run. What took how long (``say``) is
printed as it happens with ``-s``, else in pytest's summary.
"""

from __future__ import annotations

import os
import shutil
import time

import pytest

from tests.containers.engine import SAID, Compose, StackError, build_images, engine_missing, open_engine, say

MODE = os.environ.get("WORKSHOP_CONTAINER_TEST", "")
SKIP = "WORKSHOP_CONTAINER_TEST=0" if MODE == "0" else ("" if MODE == "1" else engine_missing())

DEFAULT_SERVICES = ["redis", "rabbitmq", "postgres", "coturn", "signaling", "lab"]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/containers/" in str(item.fspath):
            item.add_marker(pytest.mark.containers)
            if SKIP:
                item.add_marker(pytest.mark.skip(reason=f"container test: {SKIP}"))


def pytest_terminal_summary(terminalreporter, config):
    if SAID and config.getoption("capture") != "no":  # with -s they were printed as they came
        terminalreporter.write_sep("-", "container stack: what took how long")
        for line in SAID:
            terminalreporter.write_line(line)


@pytest.fixture(scope="module")  # torn down when the container test ends, not when the whole run does
def engine():
    if os.environ.get("WORKSHOP_CONTAINER_COLD") == "1":
        from tests.containers.engine import DEFAULT_STORE

        store = os.environ.get("WORKSHOP_CONTAINER_STORE", str(DEFAULT_STORE))
        say(f"cold run: emptying the image store {store}")
        probe = open_engine()
        try:
            if probe.name == "podman":
                probe("rmi", "--all", "--force", timeout=300, check=False)  # only this private store's
        finally:
            probe.close()
        shutil.rmtree(store, ignore_errors=True)
        shutil.rmtree(f"/run/{os.path.basename(store)}", ignore_errors=True)  # its run root (engine.py)
    eng = open_engine()
    yield eng
    eng.close()


@pytest.fixture(scope="module")  # torn down when the container test ends, not when the whole run does
def stack(engine):
    """The default stack, built from nothing if need be, up and healthy; always torn down."""
    compose = Compose(engine)
    started = time.monotonic()
    try:
        sizes = build_images(engine, compose.config(), compose)
        say(
            f"images ready in {time.monotonic() - started:.0f} s: "
            + ", ".join(f"{image} {mb:.0f} MB" for image, mb in sizes.items())
        )
        compose.sizes = sizes
        t = time.monotonic()
        compose.up()
        compose.wait_healthy(DEFAULT_SERVICES)
        say(f"default stack healthy in {time.monotonic() - t:.0f} s")
        yield compose
    finally:
        compose.down(volumes=True)
        left = compose.leftovers()
        compose.remove_env_file()
        say(f"torn down after {time.monotonic() - started:.0f} s" + (f"; LEFT: {left}" if left else ""))
        if left:
            raise StackError(f"the teardown left {', '.join(left)}")
