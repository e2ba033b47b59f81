"""The instructor sees the room: a real JupyterHub with the progress service, three learners —
one done, one stuck, one not started — whose check runs were recorded with their own logins;
the page seen by an admin in headless Chromium (a screenshot is saved), refused to a learner.

Bounded: the hub must answer within 90 s, the page must show the three learners within 45 s;
everything created (hub, roles, databases) is removed at the end.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import pytest
import requests

from workshop.checks import progress
from workshop.classroom import hub as hubs
from workshop.classroom import postgres as class_postgres
from workshop.classroom.learners import Roster
from workshop.classroom.progress import learner_settings, read_class
from workshop.classroom.progress import main as class_progress_main
from workshop.config import settings

SCREENSHOT = Path(os.environ.get("CLASSROOM_PROGRESS_SCREENSHOT", "/tmp/classroom_progress.png"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1920,640",
    "--remote-debugging-port=0",
]

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the classroom runs as root"),
    pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (workshop setup test)"),
]


def _record(admin, learner, runs: list[tuple[str, str, str]]) -> None:
    """The learner's kernel recording its check runs, with the learner's own PostgreSQL login."""
    s = learner_settings(admin, learner)

    async def go() -> None:
        for exercise, outcome, hint in runs:
            assert await progress.arecord(exercise, outcome, hint, s)

    asyncio.run(go())


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    directory = tmp_path_factory.mktemp("classroom")
    previous = {k: os.environ.get(k) for k in ("WORKSHOP_CLASSROOM_DIR", "WORKSHOP_PROGRESS")}
    os.environ.update(WORKSHOP_CLASSROOM_DIR=str(directory), WORKSHOP_PROGRESS="on")
    tag = uuid.uuid4().hex[:4]
    done, stuck, fresh, teacher = f"tp{tag}done", f"tp{tag}stuck", f"tp{tag}new", f"tp{tag}teach"
    admin = settings()
    class_postgres.prepare(admin.database_url)
    roster = Roster(directory)
    learners = {name: roster.ensure(name) for name in (done, stuck, fresh)}
    for learner in learners.values():
        class_postgres.add(admin.database_url, learner)
    hint = "expected the charges for one event delivered twice at the same time to be 1, got 2."
    _record(
        admin,
        learners[done],
        [
            ("0.1", "passed", ""),
            ("0.2", "failed", "expected 3 events, got 2."),
            ("0.2", "passed", ""),
            ("1.1", "passed", ""),
        ],
    )
    _record(
        admin,
        learners[stuck],
        [
            ("0.1", "passed", ""),
            ("1.2", "failed", hint),
            ("1.2", "crashed", "your handler(...) raised KeyError: 'id'"),
            ("1.2", "failed", hint),
        ],
    )
    conf = hubs.write_config(directory, [done, stuck, fresh], port=0, authenticator="dummy", idle_timeout=600)
    conf["admins"] = [teacher]
    (directory / "classroom.json").write_text(json.dumps(conf, indent=2) + "\n")
    try:
        hub = hubs.start(directory)
        hub.add_users([done, stuck, fresh])
        yield hub, {"done": done, "stuck": stuck, "fresh": fresh, "teacher": teacher}, admin, directory, learners
    finally:
        hubs.stop(directory)
        for learner in learners.values():
            class_postgres.remove(admin.database_url, learner)
        for key, value in previous.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def _token(hub: hubs.Hub, user: str) -> str:
    return hub.api("POST", f"/users/{user}/tokens", json={"note": "progress test", "expires_in": 600})["token"]


def test_the_instructor_reads_the_room_and_a_learner_is_refused(room, capsys):
    hub, who, admin, directory, _ = room
    data_url = f"{hub.url}/services/progress/data.json"
    learner = requests.get(data_url, headers={"Authorization": "token " + _token(hub, who["stuck"])}, timeout=10)
    assert learner.status_code == 403, learner.text[:200]
    page = requests.get(
        f"{hub.url}/services/progress/", timeout=10, headers={"Authorization": "token " + _token(hub, who["done"])}
    )
    assert page.status_code == 403
    teacher = requests.get(data_url, headers={"Authorization": "token " + _token(hub, who["teacher"])}, timeout=10)
    assert teacher.status_code == 200, teacher.text[:200]
    rows = {r["name"]: r for r in teacher.json()["learners"]}
    assert rows[who["done"]]["done"] == 3 and not rows[who["done"]]["stuck"]
    assert rows[who["stuck"]]["stuck"][0]["exercise"] == "1.2" and rows[who["stuck"]]["stuck"][0]["failures"] == 3
    assert not rows[who["fresh"]]["started"]
    assert teacher.json()["pass_rates"]["0.1"] == {"done": 2, "of": 3}
    # the CLI reads the same: workshop classroom progress
    room_view = asyncio.run(read_class(admin, Roster(directory).all()))  # each with the learner's own login
    assert [(r.name, r.started, len(r.stuck)) for r in room_view] == [
        (who["done"], True, 0),
        (who["fresh"], False, 0),
        (who["stuck"], True, 1),
    ]
    assert class_progress_main(admin, directory) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert lines[who["done"]].split()[1:4] == ["✔", "✔", "✔"]
    assert "✖3" in lines[who["stuck"]] and "1.2 (3 failures): expected the charges" in lines[who["stuck"]]
    assert lines[who["fresh"]].endswith("not started")


async def _devtools(profile: Path, deadline: float):
    port_file = profile / "DevToolsActivePort"
    while not port_file.exists():
        assert time.monotonic() < deadline, "Chromium did not open its DevTools port"
        await asyncio.sleep(0.1)
    port = port_file.read_text().split()[0]
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    while True:
        async with http.get(f"http://127.0.0.1:{port}/json") as resp:
            pages = [p for p in await resp.json() if p.get("type") == "page"]
        if pages:
            return http, await http.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0)
        assert time.monotonic() < deadline, "Chromium opened no page"
        await asyncio.sleep(0.1)


class _Tab:
    def __init__(self, ws) -> None:
        self.ws, self.n = ws, 0

    async def send(self, method: str, **params) -> dict:
        self.n += 1
        await self.ws.send_json({"id": self.n, "method": method, "params": params})
        while True:
            reply = await asyncio.wait_for(self.ws.receive_json(), 10)
            if reply.get("id") == self.n:
                return reply.get("result", {})

    async def js(self, expression: str):
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    async def until(self, expression: str, deadline: float, what: str):
        while not await self.js(expression):
            assert time.monotonic() < deadline, (
                f"the page never showed {what}: {await self.js('location.href')} {await self.js('document.body && document.body.innerText.slice(0, 300)')}"
            )
            await asyncio.sleep(0.3)


async def _look(hub_url: str, teacher: str, names: list[str], meanwhile) -> tuple[str, bytes, str]:
    profile = Path(tempfile.mkdtemp(prefix="chromium-progress-"))
    browser = subprocess.Popen(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"{hub_url}/hub/login?next=%2Fservices%2Fprogress%2F"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    http = None
    try:
        deadline = time.monotonic() + 45
        http, ws = await _devtools(profile, deadline)
        tab = _Tab(ws)
        await tab.until("!!document.querySelector('input[name=username]')", deadline, "the hub's login form")
        await tab.js(
            f"document.querySelector('input[name=username]').value = {json.dumps(teacher)};"
            "document.querySelector('input[name=password]').value = 'any';"
            "document.querySelector('form').submit(); true"
        )
        await tab.until("document.body && document.body.dataset.ready === '1'", deadline, "the grid")
        await tab.until(
            " && ".join(f"document.body.innerText.includes({json.dumps(n)})" for n in names),
            deadline,
            "the three learners",
        )
        text = await tab.js("document.body.innerText")
        shot = await tab.send("Page.captureScreenshot", format="png")
        await asyncio.to_thread(meanwhile)  # a learner runs a check while the page is open
        await tab.until(
            "!document.body.innerText.includes('not started')",
            time.monotonic() + 20,
            "the new check run without a reload",
        )
        later = await tab.js("document.body.innerText")
        await ws.close()
        return text, base64.b64decode(shot["data"]), later
    finally:
        if http is not None:
            await http.close()
        browser.terminate()
        try:
            browser.wait(5)
        except subprocess.TimeoutExpired:
            browser.kill()
        shutil.rmtree(profile, ignore_errors=True)


def test_the_live_page_in_a_real_browser(room):
    hub, who, admin, _, learners = room
    text, png, later = asyncio.run(
        _look(
            hub.url,
            who["teacher"],
            [who["done"], who["stuck"], who["fresh"]],
            lambda: _record(admin, learners[who["fresh"]], [("0.1", "failed", "x")]),
        )
    )
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    SCREENSHOT.write_bytes(png)
    assert "Class progress" in text and "refreshes every 5 s" in text
    assert "1.2: expected the charges for one event delivered twice" in text  # the stuck learner's hint
    assert "not started" in text
    assert "67%" in text  # 0.1: two of three learners passed
    assert "not started" not in later  # the page refreshed by itself
