"""`workshop down` waits until a service is really gone, not just its main thread."""

import os
import subprocess
import sys
import time

from workshop.infra.updown import _alive

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
        time.sleep(0.3)  # the main thread has exited by now; the worker sleeps on
        state = open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[-1].split()[0]
        assert state == "Z" and len(os.listdir(f"/proc/{proc.pid}/task")) > 1
        assert _alive(proc.pid, None)
        proc.kill()
        proc.wait(5)
        assert not _alive(proc.pid, None)
    finally:
        proc.kill()
        proc.wait()
