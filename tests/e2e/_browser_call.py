"""One browser call, run by tests/e2e/test_browser_call.py inside a network namespace with only ``lo``.

Starts a throw-away coturn, the signaling server (which serves the page), an aiortc
peer waiting in a room, and headless Chromium (driven by Playwright, as the classroom's
browser tests are) with a fake camera and microphone that opens the page with a relay-only
link. Reads the page's ``window.callStats`` until media has flowed both ways, and prints one
JSON line.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import sys
import time

from playwright.async_api import async_playwright

from workshop.waiting import WaitTimeout, until
from workshop.webrtc.call import SignalingPeer, synthetic_media
from workshop.webrtc.peer import selected_pair
from workshop.webrtc.relay import TurnServer
from workshop.webrtc.signaling import create_app, serve
from workshop.webrtc.tokens import room_token

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # the system's: never `playwright install`
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream=fps=30",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
]
FRAMES = 30  # each side must have decoded at least this many frames
# what a learner sees: the status line, and any request of the page that failed (a 404 in the console)
PAGE_CHECK = """() => ({
  status: document.getElementById('status').textContent,
  failed: performance.getEntriesByType('resource').filter(e => e.responseStatus >= 400).map(e => e.name),
  icon: (document.querySelector('link[rel=icon]') || {}).href || null})"""


async def main() -> dict:
    secret, turn_secret = secrets.token_urlsafe(16), secrets.token_urlsafe(16)  # room tokens; TURN credentials
    async with TurnServer(turn_secret) as turn:
        runner, url = await serve(create_app(secret, turn_url=turn.url, turn_secret=turn_secret))
        room = "e2e"
        peer = await SignalingPeer(
            "aiortc", url, room, room_token(secret, room), relay=True, media=synthetic_media(320, 240, 15)
        ).start()
        link = f"{url}/#room={room}&token={room_token(secret, room)}&relay=1"
        try:
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                try:
                    page = await browser.new_page()
                    start = time.monotonic()
                    await page.goto(link, timeout=45_000)
                    stats: dict = {}

                    async def both_ways() -> bool:
                        nonlocal stats
                        stats = await page.evaluate("window.callStats || {}")
                        sink = peer.sink
                        return stats.get("framesDecoded", 0) >= FRAMES and sink is not None and sink.frames >= FRAMES

                    try:
                        await until(both_ways, timeout=45, every=0.5, what=f"{FRAMES} frames decoded each way")
                    except WaitTimeout:
                        pass  # the test reads how far it got
                    sink = peer.sink  # read before the browser leaves: then the peer hangs up
                    return {
                        "browser": stats,
                        "page": await page.evaluate(PAGE_CHECK),
                        "aiortc_frames": sink.frames if sink else 0,
                        "aiortc_audio_frames": sum(s.frames for s in peer.sinks if s.kind == "audio"),
                        "aiortc_pair": selected_pair(peer.pc) if peer.pc is not None and sink else None,
                        "seconds": round(time.monotonic() - start, 2),
                        "errors": peer.errors,
                    }
                finally:
                    await browser.close()
        finally:
            await peer.close()
            await runner.cleanup()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())), flush=True)
    sys.exit(0)
