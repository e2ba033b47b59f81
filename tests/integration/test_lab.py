"""`workshop lab` serves JupyterLab whose kernel can import the package."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from workshop.lab import free_port

ROOT = Path(__file__).resolve().parents[2]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=3) as resp:
        return json.loads(resp.read())


def test_lab_answers_api_status_and_offers_a_workshop_kernel(tmp_path):
    port = free_port(18888)
    token = "testtoken"
    env = {**os.environ, "JUPYTER_TOKEN": token, "JUPYTER_RUNTIME_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "workshop.cli", "lab", "--no-browser", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    try:
        deadline, status = time.monotonic() + 60, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = _get(f"http://127.0.0.1:{port}/api/status?token={token}")
                break
            except OSError:
                time.sleep(0.5)
        assert status is not None, "JupyterLab did not answer /api/status within 60 s"
        assert "started" in status
        specs = _get(f"http://127.0.0.1:{port}/api/kernelspecs?token={token}")
        assert "python3" in specs["kernelspecs"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}/lab/tree/notebooks/00_setup.ipynb?token={token}" in out


def test_the_kernel_imports_workshop():
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        reply = kc.execute_interactive("import workshop, sys; print(workshop.__file__)", timeout=30)
        assert reply["content"]["status"] == "ok"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
