"""``workshop bench webrtc``'s set-up pairs, with the calls replaced: interleaving, ratios, a failed round."""

from __future__ import annotations

import pytest

from workshop.bench import webrtc as bench
from workshop.webrtc.peer import CallError


async def test_each_round_is_one_pair_and_a_failed_round_is_measured_again(monkeypatch):
    order: list[str] = []
    times = iter([0.05, 0.04, 0.05, 0.05, 0.02, 0.05])  # the bare call of each round (warm-up first)
    fail_once = [True]

    async def bare(media):
        order.append("bare")
        return next(times)

    async def call(url, secret, relay, media):
        order.append("relay" if relay else "host")
        if relay and fail_once[0] and len(order) > 3:  # the first measured round's relay call
            fail_once[0] = False
            raise CallError("TURN at 127.0.0.1:1 is unreachable: 437 Mismatched allocation")
        return (0.08 if relay else 0.06), relay

    monkeypatch.setattr(bench, "bare_setup", bare)
    monkeypatch.setattr(bench, "call_setup", call)
    rows = await bench.setup_pairs("http://x", "s", None, pairs=4)
    assert order == ["bare", "host", "relay"] * 6  # warm-up, a failed round, then four rounds, each in turn
    base, host, relay = rows
    assert base["values"] == [0.05, 0.05, 0.02, 0.05] and len(base["failed"]) == 1 and "437" in base["failed"][0]
    assert relay["values"] == [0.08] * 4 and relay["relayed"] is True and host["relayed"] is False
    assert relay["vs_bare"] == pytest.approx(1.6)  # the median of 1.6, 1.6, 4.0, 1.6 — not a ratio of medians
    assert relay["ratio"]["max"] == pytest.approx(4.0) and relay["verdict"] == "unstable"  # 4 pairs: too few


async def test_rounds_that_keep_failing_end_the_run(monkeypatch):
    rounds: list[bool] = []

    async def bare(media):
        return 0.05

    async def call(url, secret, relay, media):
        rounds.append(relay)
        if len(rounds) > 2:  # after the warm-up round, every call fails
            raise CallError("the call failed")
        return 0.06, relay

    monkeypatch.setattr(bench, "bare_setup", bare)
    monkeypatch.setattr(bench, "call_setup", call)
    with pytest.raises(CallError, match="the call failed"):
        await bench.setup_pairs("http://x", "s", None, pairs=5)
    assert len(rounds) == 2 + 3  # the warm-up's two calls, then three failed rounds: max(2, 5 // 4) + 1
