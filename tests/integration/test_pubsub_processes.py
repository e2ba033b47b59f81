"""The second way to run chapter 2: `python -m workshop.pubsub.subscriber` / `.publisher` as processes."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest


async def _spawn(module: str, *args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(sys.executable, "-m", f"workshop.pubsub.{module}", *args, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)


@pytest.mark.timeout(60)
async def test_one_publisher_two_subscriber_processes(ws_settings):
    env = {**os.environ, "WORKSHOP_NAMESPACE": ws_settings.namespace.name, "REDIS_URL": ws_settings.redis_url}
    # started first, as compose may: it waits until both subscribers listen, so nothing is lost
    pub = await _spawn("publisher", "--count", "3", "--interval", "0.05", "--wait-subscribers", "2", env=env)
    subs = [await _spawn("subscriber", "--name", f"subscriber-{i}", env=env) for i in (1, 2)]
    try:
        out, _ = await asyncio.wait_for(pub.communicate(), 30)
        assert pub.returncode == 0
        assert out.decode().count("reached 2 subscriber(s)") == 3
    finally:
        for proc in subs:
            proc.send_signal(signal.SIGTERM)
    for i, proc in enumerate(subs, 1):
        out, _ = await asyncio.wait_for(proc.communicate(), 20)
        text = out.decode()
        assert proc.returncode == 0
        assert f"subscriber-{i}: subscribed to {ws_settings.namespace.key('user_events')}" in text
        assert text.count(f"subscriber-{i}: user_events user_action") == 3
        assert f"subscriber-{i}: stopped after 3 message(s), 0 bad" in text


async def test_a_publisher_waiting_for_subscribers_gives_up_in_one_line(ws_settings, monkeypatch):
    from workshop.pubsub import publisher

    monkeypatch.setattr(publisher, "stop_on_signals", asyncio.Event)  # no signal handlers inside pytest
    with pytest.raises(Exception, match=r"waited 0.3 s for 2 subscriber\(s\) on ws_t_\w+:user_events"):
        await publisher.run(ws_settings, "user_events", 0.01, 1, subscribers=2, wait=0.3)


async def test_a_subscriber_process_with_redis_down_says_so_in_one_line(ws_settings):
    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:1/0"}
    proc = await _spawn("subscriber", env=env)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    lines = out.decode().strip().splitlines()
    assert len(lines) == 1 and "Redis is not reachable" in lines[0]
