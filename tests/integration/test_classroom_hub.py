"""The acceptance test of the classroom: a real JupyterHub, three provisioned learners, their
servers started through the hub's REST API, chapter notebooks run in all three at once against
the one set of services. Each notebook runs in a kernel of the learner's own Jupyter server
(its Unix account, its environment), driven over the kernel WebSocket (workshop.classroom.remote).

Bounded: servers must be ready within 120 s, each cell within 300 s; everything created
(hub, servers, Unix accounts, roles, vhosts, ACL users) is removed at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from workshop.classroom import hub as hubs
from workshop.classroom import provision
from workshop.classroom.learners import Roster
from workshop.classroom.remote import run_notebook
from workshop.classroom.spawner import remove_system_user
from workshop.config import repo_root, settings

ROOT = repo_root()
CHAPTERS = ["notebooks/00_setup.ipynb", "solutions/00_warmup.ipynb", "notebooks/03_event_sourcing.ipynb"]
if os.environ.get("CLASSROOM_CHAPTERS"):  # e.g. the capacity run of docs/classroom.md: all chapters
    CHAPTERS = os.environ["CLASSROOM_CHAPTERS"].split(",")
FIGURES = Path(os.environ.get("CLASSROOM_FIGURES", "/tmp/classroom_figures.json"))

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the hub creates Unix accounts: run as root")


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    directory = tmp_path_factory.mktemp("classroom")
    os.environ["WORKSHOP_CLASSROOM_DIR"] = str(directory)
    tag = uuid.uuid4().hex[:5]
    names = [f"tc{tag}{i}" for i in (1, 2, 3)]
    admin = settings()
    provision.prepare(admin)
    roster = Roster(directory)
    learners = [provision.provision(admin, roster.ensure(name)) for name in names]
    hubs.write_config(directory, names, port=0, mem_limit="3G", idle_timeout=600)
    try:
        hub = hubs.start(directory)
        hub.add_users(names)
        yield hub, names
    finally:
        hubs.stop(directory)
        for learner in learners:
            remove_system_user(learner.name)
            provision.remove(admin, learner)
        os.environ.pop("WORKSHOP_CLASSROOM_DIR", None)


def _cpu_seconds(user: str) -> float:
    """CPU time (user + system) used so far by the learner's live processes: its server and kernels."""
    import psutil

    total = 0.0
    for proc in psutil.process_iter(["username", "cpu_times"]):
        if proc.info["username"] == user and proc.info["cpu_times"]:
            total += proc.info["cpu_times"].user + proc.info["cpu_times"].system
    return total


@pytest.mark.timeout(300 * len(CHAPTERS))  # bounded: each chapter, for all three at once, within 5 min
def test_three_learners_run_the_chapters_at_the_same_time(classroom):
    hub, names = classroom
    with ThreadPoolExecutor(len(names)) as pool:
        def timed_start(name):
            t = time.monotonic()
            hub.start_server(name)
            return time.monotonic() - t
        ready_s = list(pool.map(timed_start, names))
    idle_mib = {name: round(hubs.learner_memory_mib(name)) for name in names}

    async def everyone(notebook):
        return await asyncio.gather(*(run_notebook(hub, name, ROOT / notebook, cell_timeout=300) for name in names))

    figures = {"ready_seconds": [round(t, 1) for t in ready_s], "server_only_pss_mib": idle_mib, "chapters": {}}
    for notebook in CHAPTERS:
        cpu_before = {name: _cpu_seconds(name) for name in names}
        results = asyncio.run(everyone(notebook))
        for result in results:
            assert result.ok, f"{result.learner} {notebook} cell {result.failed_cell}: {result.error}"
        figures["chapters"][notebook] = {
            "seconds": [round(r.seconds, 1) for r in results],
            "pss_mib_after": {name: round(hubs.learner_memory_mib(name)) for name in names},
            "cpu_seconds": {name: round(_cpu_seconds(name) - cpu_before[name], 1) for name in names},
        }
        FIGURES.write_text(json.dumps(figures, indent=2))  # kept even if a later chapter fails
        if notebook.endswith("00_setup.ipynb"):  # each kernel runs with its own learner's namespace
            for name, result in zip(names, results):
                assert f"your namespace: ws_{name}" in "".join(result.outputs)
    print(json.dumps(figures, indent=2))
    users = {u["name"]: u for u in hub.api("GET", "/users")}
    assert all(users[name]["servers"][""]["ready"] for name in names)


def test_a_runaway_cell_hits_its_own_limit_and_the_others_go_on(classroom):
    hub, names = classroom
    for name in names[:2]:
        hub.start_server(name)
    bomb = ROOT / ".workshop" / f"classroom_bomb_{uuid.uuid4().hex[:6]}.ipynb"
    import nbformat

    # 4 GiB of address space (mmap reserves, it does not touch RAM: harmless if the cap were missing)
    cells = [nbformat.v4.new_code_cell("import mmap\nhog = mmap.mmap(-1, 4 * 2**30)")]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), bomb)
    try:
        async def both():
            return await asyncio.gather(run_notebook(hub, names[0], bomb, keep_kernel=False),
                                        run_notebook(hub, names[1], ROOT / CHAPTERS[1], keep_kernel=False))
        runaway, neighbour = asyncio.run(both())
    finally:
        bomb.unlink()
    assert not runaway.ok and "Cannot allocate memory" in runaway.error, runaway.error
    assert neighbour.ok, neighbour.error
    assert hub.user_api(names[0], "/status")["started"]  # the runaway learner's server is still up


def test_a_learner_cannot_reach_another_learners_server(classroom):
    hub, names = classroom
    hub.start_server(names[1])
    token = hub.api("POST", f"/users/{names[0]}/tokens", json={"note": "test", "expires_in": 300})["token"]
    mine = requests.get(f"{hub.url}/user/{names[0]}/api/status", headers={"Authorization": f"token {token}"}, timeout=10)
    theirs = requests.get(f"{hub.url}/user/{names[1]}/api/kernels", headers={"Authorization": f"token {token}"},
                          timeout=10, allow_redirects=False)
    assert theirs.status_code in (302, 403), theirs.status_code
    assert mine.status_code in (200, 424)  # 424: own server stopped; never refused by the hub


def test_restarting_the_hub_keeps_the_learners_servers_and_kernels(classroom):
    hub, names = classroom
    hub.start_server(names[2])
    kernel = requests.post(f"{hub.url}/user/{names[2]}/api/kernels", headers=hub.session.headers, json={}, timeout=30).json()
    pid = int((hub.directory / "hub.pid").read_text())
    hubs._terminate(pid)
    assert not hub.alive()
    hub = hubs.start(hub.directory)
    server = hub.api("GET", f"/users/{names[2]}")["servers"][""]
    assert server["ready"]
    assert kernel["id"] in [k["id"] for k in hub.user_api(names[2], "/kernels")]
