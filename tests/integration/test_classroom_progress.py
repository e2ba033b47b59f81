"""The instructor sees the room: a real JupyterHub with the progress service, three learners —
one done, one stuck, one not started — whose check runs were recorded with their own logins;
the page seen by an admin in headless Chromium (a screenshot is saved), refused to a learner.

Bounded: the hub must answer within 90 s, the page must show the three learners within 45 s;
everything created (hub, roles, databases) is removed at the end.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import shutil
import uuid
from pathlib import Path

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


def _look(hub_url: str, teacher: str, names: list[str], meanwhile) -> tuple[str, bytes, str]:
    """The instructor's view in headless Chromium (Playwright): the grid, a screenshot, and the page
    again after ``meanwhile`` (a learner running a check) — without a reload."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1920, "height": 640})
            page.goto(f"{hub_url}/hub/login?next=%2Fservices%2Fprogress%2F", timeout=45_000)
            page.fill("input[name=username]", teacher)
            page.fill("input[name=password]", "any")
            page.evaluate("document.querySelector('form').submit()")
            page.wait_for_function("document.body && document.body.dataset.ready === '1'", timeout=45_000)
            every_name = " && ".join(f"document.body.innerText.includes({json.dumps(n)})" for n in names)
            page.wait_for_function(every_name, timeout=45_000)
            text, png = page.inner_text("body"), page.screenshot()
            with concurrent.futures.ThreadPoolExecutor(1) as other:  # Playwright owns this thread's loop
                other.submit(meanwhile).result(timeout=60)  # a learner runs a check while the page is open
            page.wait_for_function("!document.body.innerText.includes('not started')", timeout=20_000)
            return text, png, page.inner_text("body")
        finally:
            browser.close()


def test_the_live_page_in_a_real_browser(room):
    hub, who, admin, _, learners = room
    text, png, later = _look(
        hub.url,
        who["teacher"],
        [who["done"], who["stuck"], who["fresh"]],
        lambda: _record(admin, learners[who["fresh"]], [("0.1", "failed", "x")]),
    )
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    SCREENSHOT.write_bytes(png)
    assert "Class progress" in text and "refreshes every 5 s" in text
    assert "1.2: expected the charges for one event delivered twice" in text  # the stuck learner's hint
    assert "not started" in text
    assert "67%" in text  # 0.1: two of three learners passed
    assert "not started" not in later  # the page refreshed by itself
