"""End to end: headless Chromium (fake camera and microphone, driven by Playwright) calls an aiortc
peer through the signaling server's own page and the TURN relay; media flows both ways.

Chromium may send from the machine's own non-loopback address even when told to allow
loopback, so the whole call (coturn, signaling server, aiortc peer, Chromium) runs in a
network namespace that has only ``lo`` (``unshare -n``; needs root, as CI has).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(150)

SCRIPT = Path(__file__).with_name("_browser_call.py")
ROOT = Path(__file__).resolve().parent.parent.parent


def test_browser_calls_an_aiortc_peer_through_the_relay():
    for tool in ("unshare", "ip", "chromium", "turnserver"):
        assert shutil.which(tool) or Path(f"/usr/bin/{tool}").exists(), f"{tool} is not installed (see .ci/run)"
    inside = f"ip link set lo up && exec {sys.executable} {SCRIPT}"
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", inside],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"the browser call did not run: {done.stderr.strip()[-800:]}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    browser = result["browser"]
    assert browser.get("joined") and not browser.get("errors"), browser
    assert browser.get("state") == "connected", browser
    assert browser.get("pair") == {"local": "relay", "remote": "relay"}, browser["pair"]
    assert result["aiortc_pair"] and result["aiortc_pair"]["relayed"], result["aiortc_pair"]
    assert browser["framesDecoded"] >= 30, f"the page decoded only {browser['framesDecoded']} frames from aiortc"
    assert result["aiortc_frames"] >= 30, f"aiortc received only {result['aiortc_frames']} frames from the browser"
    assert result["aiortc_audio_frames"] > 0 and browser["audioPackets"] > 0, "no audio in one direction"
    page = result["page"]
    assert page["status"].startswith("Room e2e: call connected · path relay ↔ relay (through TURN)"), page["status"]
    assert not page["failed"], f"the page's requests that failed: {page['failed']}"
    assert page["icon"] == "data:,", "without an icon the browser asks for /favicon.ico (a 404)"
