"""Measure the learner's Docker path: ``compose up --build`` until the lab's URL answers.

    python -m tests.containers.learner_path            # warm: whatever the image store holds
    python -m tests.containers.learner_path --cold     # first empty the store (keeps debian:bookworm-slim)

What the README's Docker section promises, timed: the command a learner types (with
``-d``, so that this script can poll), then ``GET /lab?token=…`` until it answers 200. The
stack is torn down afterwards (``down -v``), also on failure. With podman, a ``--cold`` run
keeps only the base image (a learner's Docker pulls ``debian:bookworm-slim`` in seconds;
here debootstrap stands in for the pull, see docker/base/make-base.sh).

On a machine whose pip needs a private certificate authority (``PIP_CERT``), Compose's
builds run through podman's API, which takes no build mounts: the CA and a pip.conf naming
it are lent to every container of this podman service through containers.conf's
``volumes`` (read-only, at /etc/xdg/pip), never stored in an image.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import httpx

from tests.containers.engine import BASE_IMAGE, Compose, StackError, build_base, open_engine, say
from workshop.waiting import WaitTimeout, until_sync


def lab_answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.containers.learner_path", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--cold", action="store_true", help="remove every image but the base first")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the lab (default %(default)s)")
    args = parser.parse_args(argv)

    extra_volumes = None
    ca = os.environ.get("PIP_CERT")
    if ca and Path(ca).is_file():
        lend = Path("/run/workshop-learner-pip")
        lend.mkdir(exist_ok=True)
        shutil.copy(ca, lend / "ca.crt")
        (lend / "pip.conf").write_text("[global]\ncert = /etc/xdg/pip/ca.crt\n")
        extra_volumes = [f"{lend}:/etc/xdg/pip:ro"]
    engine = open_engine(extra_volumes=extra_volumes)
    compose = Compose(engine)
    try:
        if args.cold:  # every image and build cache but the base
            for image in engine("images", "--format", "{{.Repository}}:{{.Tag}}", timeout=60).stdout.split():
                if image != BASE_IMAGE and not image.startswith("<none>"):
                    engine("rmi", "--force", image, timeout=300, check=False)
            engine("image", "prune", "--force", timeout=300, check=False)  # the dangling layers
            if engine.name == "docker":
                engine("builder", "prune", "--all", "--force", timeout=300, check=False)
        build_base(engine)
        url = f"http://127.0.0.1:{compose.port('LAB_HOST_PORT')}/lab?token={compose.values['JUPYTER_TOKEN']}"
        started = time.monotonic()
        compose.up("--build", timeout=args.timeout, build=True)
        until_sync(
            lambda: lab_answers(url), timeout=started + args.timeout - time.monotonic(), every=1, what="the lab's URL"
        )
        say(
            f"learner path ({'cold' if args.cold else 'warm'}, {engine.name}): "
            f"`compose up --build` to the lab answering in {time.monotonic() - started:.0f} s"
        )
        return 0
    except (StackError, WaitTimeout) as exc:
        print(f"learner path: {exc}", file=sys.stderr)
        return 1
    finally:
        compose.down(volumes=True)
        compose.remove_env_file()
        engine.close()


if __name__ == "__main__":
    sys.exit(main())
