"""One browser call, run by tests/e2e/test_browser_call.py inside a network namespace with only ``lo``.

Starts a throw-away coturn, the signaling server (which serves the page), an aiortc
peer waiting in a room, and headless Chromium with a fake camera and microphone that
opens the page with a relay-only link. Reads the page's ``window.callStats`` over the
DevTools protocol until media has flowed both ways, and prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from workshop.webrtc.call import SignalingPeer, synthetic_media
from workshop.webrtc.peer import selected_pair
from workshop.webrtc.relay import TurnServer
from workshop.webrtc.signaling import create_app, serve
from workshop.webrtc.tokens import room_token

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream=fps=30",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
    "--remote-debugging-port=0",
]
FRAMES = 30  # each side must have decoded at least this many frames
# what a learner sees: the status line, and any request of the page that failed (a 404 in the console)
PAGE_CHECK = """JSON.stringify({
  status: document.getElementById('status').textContent,
  failed: performance.getEntriesByType('resource').filter(e => e.responseStatus >= 400).map(e => e.name),
  icon: (document.querySelector('link[rel=icon]') || {}).href || null})"""


async def page_stats(profile: Path, deadline: float) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]:
    """Connect to the page over the DevTools protocol."""
    port_file = profile / "DevToolsActivePort"
    while not port_file.exists():
        if time.monotonic() > deadline:
            raise TimeoutError("Chromium did not open its DevTools port")
        await asyncio.sleep(0.1)
    port = port_file.read_text().split()[0]
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
    while True:
        async with http.get(f"http://127.0.0.1:{port}/json") as resp:
            pages = [p for p in await resp.json() if p.get("type") == "page"]
        if pages:
            return http, await http.ws_connect(pages[0]["webSocketDebuggerUrl"])
        if time.monotonic() > deadline:
            raise TimeoutError("Chromium opened no page")
        await asyncio.sleep(0.1)


async def evaluate(ws: aiohttp.ClientWebSocketResponse, expression: str, msg_id: int) -> object:
    await ws.send_json(
        {"id": msg_id, "method": "Runtime.evaluate", "params": {"expression": expression, "returnByValue": True}}
    )
    while True:
        reply = await asyncio.wait_for(ws.receive_json(), 5)
        if reply.get("id") == msg_id:
            return reply.get("result", {}).get("result", {}).get("value")


async def main() -> dict:
    secret, turn_secret = secrets.token_urlsafe(16), secrets.token_urlsafe(16)  # room tokens; TURN credentials
    result: dict = {}
    async with TurnServer(turn_secret) as turn:
        runner, url = await serve(create_app(secret, turn_url=turn.url, turn_secret=turn_secret))
        room = "e2e"
        peer = await SignalingPeer(
            "aiortc", url, room, room_token(secret, room), relay=True, media=synthetic_media(320, 240, 15)
        ).start()
        profile = Path(tempfile.mkdtemp(prefix="chromium-"))
        link = f"{url}/#room={room}&token={room_token(secret, room)}&relay=1"
        browser = subprocess.Popen(
            [shutil.which("chromium") or "/usr/bin/chromium", *FLAGS, f"--user-data-dir={profile}", link],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        http = None
        try:
            start = time.monotonic()
            deadline = start + 45
            http, ws = await page_stats(profile, deadline)
            stats: dict = {}
            n = 0
            while time.monotonic() < deadline:
                n += 1
                stats = json.loads(await evaluate(ws, "JSON.stringify(window.callStats || {})", n) or "{}")
                sink = peer.sink
                if stats.get("framesDecoded", 0) >= FRAMES and sink is not None and sink.frames >= FRAMES:
                    break
                await asyncio.sleep(0.5)
            page = json.loads(await evaluate(ws, PAGE_CHECK, n + 1) or "{}")
            sink = peer.sink
            result = {
                "browser": stats,
                "page": page,
                "aiortc_frames": sink.frames if sink else 0,
                "aiortc_audio_frames": sum(s.frames for s in peer.sinks if s.kind == "audio"),
                "aiortc_pair": selected_pair(peer.pc) if peer.pc is not None and sink else None,
                "seconds": round(time.monotonic() - start, 2),
                "errors": peer.errors,
            }
            await ws.close()
        finally:
            if http is not None:
                await http.close()
            browser.terminate()
            try:
                browser.wait(5)
            except subprocess.TimeoutExpired:
                browser.kill()
            shutil.rmtree(profile, ignore_errors=True)
            await peer.close()
            await runner.cleanup()
    return result


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())), flush=True)
    sys.exit(0)
