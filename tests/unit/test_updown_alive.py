"""`workshop down` waits until a service is really gone, not just its main thread."""

import subprocess
import sys

import psutil

from workshop.infra.updown import _alive
from workshop.waiting import until_sync

# The main thread exits; a worker thread lives on (and would keep a port open), as turnserver's do.
LEADER_EXITS_FIRST = """
import ctypes, sys, threading, time
threading.Thread(target=time.sleep, args=(30,)).start()
sys.stdout.write("ready\\n"); sys.stdout.flush()
ctypes.CDLL(None).pthread_exit(None)  # only the main thread ends
"""


def test_a_zombie_main_thread_with_live_workers_counts_as_alive():
    proc = subprocess.Popen([sys.executable, "-c", LEADER_EXITS_FIRST], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"ready\n"
        # wait for the main thread to have exited (a zombie leader) while the worker sleeps on
        leader = psutil.Process(proc.pid)
        until_sync(
            lambda: leader.status() == psutil.STATUS_ZOMBIE, timeout=10, every=0.01, what="the main thread to exit"
        )
        assert leader.num_threads() > 1
        assert _alive(proc.pid, None)
        proc.kill()
        proc.wait(5)
        assert not _alive(proc.pid, None)
    finally:
        proc.kill()
        proc.wait()
