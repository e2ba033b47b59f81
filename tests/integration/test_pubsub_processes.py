"""The second way to run chapter 2: `python -m workshop.run.pubsub subscriber|publisher|consumer` as processes."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest


async def _spawn(what: str, *args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workshop.run.pubsub",
        what,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


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


async def test_a_publisher_waiting_for_subscribers_gives_up_in_one_line(ws_settings):
    from workshop.pubsub.publisher import Publisher, wait_for_subscribers
    from workshop.waiting import WaitTimeout

    async with await Publisher.open(ws_settings) as pub:
        with pytest.raises(WaitTimeout, match=r"^waited 0.3 s for 2 subscriber\(s\) on ws_t_\w+:user_events") as info:
            await wait_for_subscribers(pub, "user_events", 2, 0.3)
    assert "\n" not in str(info.value)


async def test_a_subscriber_process_with_redis_down_says_so_in_one_line(ws_settings):
    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:1/0"}
    proc = await _spawn("subscriber", env=env)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    lines = out.decode().strip().splitlines()
    assert len(lines) == 1 and "Redis is not reachable" in lines[0]


@pytest.mark.timeout(90)
async def test_a_stream_consumer_killed_with_sigkill_loses_nothing(ws_settings):
    from workshop.pubsub.publisher import user_action
    from workshop.pubsub.streams import GroupConsumer, append_many

    env = {**os.environ, "WORKSHOP_NAMESPACE": ws_settings.namespace.name, "REDIS_URL": ws_settings.redis_url}
    victim = await _spawn(
        "consumer", "--group", "billing", "--consumer", "victim", "--work-delay", "0.2", "--batch", "5", env=env
    )
    line = await asyncio.wait_for(victim.stdout.readline(), 30)
    assert b"victim: consuming" in line
    seen: list[int] = []
    rescuer = await GroupConsumer.open(
        ws_settings,
        "user_events",
        group="billing",
        consumer="rescuer",
        handler=lambda e: seen.append(e.data["seq"]),
        claim_idle_ms=200,
    )
    try:
        await append_many(rescuer.redis, rescuer.key, [user_action(i) for i in range(40)])
        handled_by_victim: list[int] = []
        while len(handled_by_victim) < 7:  # in the middle of its second batch ...
            text = (await asyncio.wait_for(victim.stdout.readline(), 30)).decode()
            handled_by_victim.append(int(text.rsplit("seq=", 1)[1]))
        victim.send_signal(signal.SIGKILL)  # ... it dies: no XACK for that batch
        await victim.wait()
        rest = (await victim.stdout.read()).decode()  # lines it printed that we had not read yet
        handled_by_victim += [int(x.rsplit("seq=", 1)[1]) for x in rest.splitlines() if "seq=" in x]
        assert (await rescuer.pending())["consumers"].get("victim", 0) > 0
        await asyncio.sleep(0.25)
        while await rescuer.poll():
            pass
        assert set(handled_by_victim) | set(seen) == set(range(40))  # nothing lost
        assert (await rescuer.pending())["pending"] == 0
        redelivered = set(handled_by_victim) & set(seen)
        assert redelivered, "handled but not acknowledged before the kill: delivered again (at least once)"
    finally:
        if victim.returncode is None:
            victim.kill()
            await victim.wait()
        await rescuer.close()
