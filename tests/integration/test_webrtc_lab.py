"""The notebook's lab: a signaling server and a TURN server in the kernel, restartable from the top."""

from __future__ import annotations

from dataclasses import replace

import aiohttp
import pytest

from workshop.config import settings
from workshop.webrtc.call import SignalingPeer, loopback_call, synthetic_media
from workshop.webrtc.lab import start_lab
from workshop.webrtc.peer import selected_pair
from workshop.webrtc.tokens import room_token

pytestmark = pytest.mark.timeout(60)


async def test_lab_falls_back_to_a_throwaway_coturn_and_restarts_cleanly():
    s = replace(settings(), turn_secret="not-the-running-coturns-secret")  # workshop up's coturn refuses it
    first = await start_lab(s)
    assert "throw-away" in first.turn_kind and first.turn is not None
    waiting = await SignalingPeer("notebook", first.url, "r", room_token(first.secret, "r")).start()
    first_coturn = first.turn.server
    assert first_coturn is not None and first_coturn.running
    second = await start_lab(s)  # running the notebook again from the top
    try:
        assert not waiting.sio.connected, "the first lab left its peer connected"
        assert not first_coturn.running, "the first coturn is still running"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            with pytest.raises(aiohttp.ClientError):
                await http.get(f"{first.url}/healthz")
        async with loopback_call(second.url, second.secret, relay=True, media=synthetic_media(160, 120, 10)) as call:
            assert selected_pair(call.caller.pc)["relayed"]
    finally:
        await second.close()
        await second.close()  # twice is harmless
