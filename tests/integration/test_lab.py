"""`workshop lab` serves JupyterLab whose kernel can import the package."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from workshop.process import free_port

ROOT = Path(__file__).resolve().parents[2]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=3) as resp:
        return json.loads(resp.read())


def test_lab_answers_api_status_and_offers_a_workshop_kernel(tmp_path):
    port = free_port(start=18888)
    token = "testtoken"
    env = {
        **os.environ,
        "JUPYTER_TOKEN": token,
        "JUPYTER_RUNTIME_DIR": str(tmp_path),
        "WORKSHOP_STATE_DIR": str(tmp_path / "state"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "workshop.cli", "lab", "--no-browser", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/lab/tree/notebooks/00_setup.ipynb?token={token}"
    lines: list[str] = []
    try:
        # `workshop lab` prints the URL box once the server answers: wait for its closing bar
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
        reader.start()
        deadline = time.monotonic() + 120
        while not (any(url in line for line in lines) and lines[-1].startswith("====")):
            assert time.monotonic() < deadline and proc.poll() is None, "no URL box within 120 s:\n" + "".join(lines)
            time.sleep(0.2)
        assert "started" in _get(f"http://127.0.0.1:{port}/api/status?token={token}")
        specs = _get(f"http://127.0.0.1:{port}/api/kernelspecs?token={token}")["kernelspecs"]
        # the workshop kernel: `workshop setup`'s python3, running this environment's Python
        kernel = specs["python3"]["spec"]
        assert kernel["display_name"] == "Python 3 (workshop)", kernel
        assert Path(kernel["argv"][0]).resolve() == Path(sys.executable).resolve(), kernel["argv"]
        time.sleep(1)  # nothing more is printed while the server runs
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    assert len([line for line in lines if line.strip()]) <= 8, "".join(lines)  # the server's own log went to a file...
    assert "ServerApp" in (tmp_path / "state" / "jupyter.log").read_text()
    assert lines[-1].startswith("====") and any(url in line for line in lines[-5:])  # ...the URL box is last


def test_the_kernel_imports_workshop():
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    printed: list[str] = []

    def output(msg: dict) -> None:
        if msg["msg_type"] == "stream":
            printed.append(msg["content"]["text"])

    try:
        reply = kc.execute_interactive("import workshop; print(workshop.__file__)", timeout=30, output_hook=output)
        assert reply["content"]["status"] == "ok"
        assert Path("".join(printed).strip()) == ROOT / "workshop" / "__init__.py"  # this checkout's package
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
