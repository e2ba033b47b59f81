"""Throw-away RabbitMQ nodes (chapter 7's cluster) that outlived the process that started them.

A :class:`workshop.cluster.Cluster` stops its nodes when it is closed, and each node gets
SIGTERM when the process that started it dies. What can still be left behind — a kernel
killed with SIGKILL while a node was frozen (SIGSTOP ignores SIGTERM until SIGCONT) — is found
here by the temporary directory in the node's command line. ``workshop down`` stops them and
``workshop doctor`` mentions them.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

DIR_PREFIX = "workshop-cluster-"  # the cluster's temporary directory: in every node's command line


def cluster_nodes() -> list[int]:
    """Process ids of throw-away cluster nodes running on this machine."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"beam" in cmdline.split(b"\0", 1)[0] and DIR_PREFIX.encode() in cmdline:
            pids.append(int(proc.name))
    return pids


def stop_cluster_nodes() -> int:
    """Kill the nodes :func:`cluster_nodes` finds (thawed first: a frozen one ignores signals) and delete
    the clusters' temporary directories; returns how many nodes were running."""
    import shutil
    import tempfile

    pids = cluster_nodes()
    for pid in pids:
        for sig in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except OSError:
                pass
    for leftover in Path(tempfile.gettempdir()).glob(f"{DIR_PREFIX}*"):
        shutil.rmtree(leftover, ignore_errors=True)
    return len(pids)
