"""Process trees: what "kill the machine" means on one host, and proof that nothing is left.

A Patroni node is a tree: the Patroni agent starts the postmaster, which starts a backend per
connection and a WAL sender per replica. Killing a *node* means killing the whole tree at once
with SIGKILL — no shutdown, no goodbye, as when a host loses power.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterable
from pathlib import Path

import psutil


def tree(pid: int) -> list[psutil.Process]:
    """``pid`` and all its descendants that are alive now (empty if ``pid`` is gone)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except (psutil.NoSuchProcess, ValueError):
        return []


def kill_tree(pids: Iterable[int]) -> int:
    """SIGKILL each pid and every descendant, all first collected then killed; returns how many."""
    victims = {p.pid for pid in pids for p in tree(pid)}
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(victims)


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def leftovers(pids: Iterable[int], home: Path | None = None) -> list[psutil.Process]:
    """Processes still alive among ``pids``, or whose command line names ``home``."""
    found: dict[int, psutil.Process] = {}
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess, ValueError):
            p = psutil.Process(pid)
            if _alive(p):
                found[pid] = p
    if home is not None:
        needle = str(home)
        for p in psutil.process_iter(["cmdline"]):
            if p.pid not in found and needle in " ".join(p.info["cmdline"] or []) and _alive(p):
                found[p.pid] = p
    return list(found.values())
