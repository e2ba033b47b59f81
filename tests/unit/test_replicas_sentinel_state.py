"""What a stuck restart says: the server's role and whether a Sentinel is in TILT mode (no servers needed)."""

from __future__ import annotations

from workshop.replicas import sentinel
from workshop.replicas.sentinel import SentinelGroup


def test_a_stuck_restart_names_the_role_and_the_sentinels_in_tilt(monkeypatch):
    answers = {
        (1, "replication"): {"role": "master"},
        (2, "sentinel"): {"sentinel_tilt": 1},
        (3, "sentinel"): {"sentinel_tilt": 0},
        (4, "sentinel"): {},  # not answering
    }
    monkeypatch.setattr(sentinel, "_info", lambda port, section: answers.get((port, section), {}))
    group = SentinelGroup(ports={"redis0": 1, "sentinel0": 2, "sentinel1": 3, "sentinel2": 4})
    assert group._restart_state("redis0") == (
        "redis0 answers as master (replication link -); Sentinels in TILT mode: 1 of 3"
    )


def test_a_server_that_does_not_answer_says_so(monkeypatch):
    monkeypatch.setattr(sentinel, "_info", lambda port, section: {})
    group = SentinelGroup(ports={"redis0": 1, "sentinel0": 2})
    assert group._restart_state("redis0").startswith("redis0 answers as nothing (replication link -)")


def test_a_restart_drops_the_old_replicaof_before_adding_the_current_master():
    argv = ["redis-server", "--port", "1", "--replicaof", "127.0.0.1", "2", "--logfile", "x"]
    assert sentinel._without_replicaof(argv) == ["redis-server", "--port", "1", "--logfile", "x"]
    assert sentinel._without_replicaof(["redis-server", "--port", "1"]) == ["redis-server", "--port", "1"]
