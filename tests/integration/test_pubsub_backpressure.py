"""A throw-away redis-server closes a slow subscriber; the loss is counted, the shared server untouched."""

from __future__ import annotations

import pytest
import redis

from workshop.config import settings
from workshop.pubsub.backpressure import ThrowawayRedis, slow_subscriber


async def test_a_slow_subscriber_is_disconnected_and_loses_messages():
    shared_limit = redis.Redis.from_url(settings().redis_url).config_get("client-output-buffer-limit")
    async with ThrowawayRedis(pubsub_limit="256kb 128kb 0") as server:
        assert server.port != 6379
        result = await slow_subscriber(server, burst=3000, size=4096, after=3)
        assert result.disconnections >= 1 and result.noticed >= 1
        assert 0 < result.received < result.published and result.lost == result.published - result.received
        assert result.after == 3  # it subscribed again and carried on
        proc = server.proc
    assert proc.returncode is not None  # stopped at the end
    assert redis.Redis.from_url(settings().redis_url).config_get("client-output-buffer-limit") == shared_limit


async def test_a_restart_refuses_a_port_another_redis_server_took_after_the_crash(tmp_path):
    """After crash() the port is free: whoever takes it must not be mistaken for our server."""
    import shutil

    from workshop.errors import WorkshopError
    from workshop.process import Server, port_open
    from workshop.pubsub.backpressure import ThrowawayRedis

    async with ThrowawayRedis() as ours:
        await ours.crash()
        argv = [shutil.which("redis-server"), "--port", str(ours.port), "--bind", "127.0.0.1", "--save", ""]
        async with Server("intruder", argv, ready=lambda: port_open("127.0.0.1", ours.port), log=tmp_path / "i.log"):
            with pytest.raises(WorkshopError, match=f"port {ours.port}|{ours.port}.*exited at once"):
                await ours.start()
