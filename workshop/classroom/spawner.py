"""How the hub starts a learner's JupyterLab: JupyterHub's own LocalProcessSpawner, as a system user.

Each learner is a Unix account (created on first start, marked with
:data:`MARK` so the classroom never touches an account it did not make): its
files, its processes and its environment — its credentials — are its own, which
a single shared Unix user could not give. Before the server starts the spawner

- creates the account if needed, makes its home ``0700`` (nobody else reads its
  notebooks, history or files) with a private ``~/.tmp`` (``TMPDIR``) and a
  ``0700`` Jupyter runtime folder, and copies the course (``notebooks/``,
  ``exercises/``) into ``~/course`` once;
- sets the learner's credentials as environment variables (:meth:`Learner.env`);
- starts the server with ``umask 077`` and kernels on **IPC** sockets in that
  runtime folder (``--KernelManager.transport=ipc``) instead of TCP loopback
  ports, which any local user could connect to: the kernel key signs messages,
  it does not encrypt them, so a classmate subscribed to an IOPub port would
  read every output;
- caps the address space of the server and its kernels at ``mem_limit``
  (``RLIMIT_AS``: a runaway cell gets ``MemoryError`` instead of starving the
  others), the learner's processes and threads (``RLIMIT_NPROC``: a fork bomb
  stops at ``nproc_limit``) and lowers their CPU priority (``nice``).
  LocalProcessSpawner itself enforces neither ``mem_limit`` nor ``cpu_limit``;
  SystemdSpawner (The Littlest JupyterHub) and KubeSpawner do — see docs/classroom.md.
"""

from __future__ import annotations

import os
import pwd
import resource
import shutil
import subprocess
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner
from traitlets import Integer, Unicode

from workshop.errors import WorkshopError

MARK = "workshop classroom learner"  # the GECOS field of the accounts we create
PRIVATE = {"TMPDIR": ".tmp", "JUPYTER_RUNTIME_DIR": ".jupyter-runtime"}  # 0700 folders in the home


def ensure_system_user(name: str) -> pwd.struct_passwd:
    """The Unix account ``name``, created with a home if missing; refuses someone else's account."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--create-home", "--shell", "/bin/bash", "--comment", MARK, name],
            check=True,
            capture_output=True,
            timeout=30,
        )
        entry = pwd.getpwnam(name)
        os.chmod(entry.pw_dir, 0o700)  # useradd follows the system's HOME_MODE/UMASK, often 0755
        return entry
    if entry.pw_gecos != MARK:
        raise WorkshopError(
            f"the Unix account {name!r} exists and is not a classroom account: pick another learner name"
        )
    return entry


def private_home(entry: pwd.struct_passwd) -> dict[str, str]:
    """Home ``0700`` and the private folders of :data:`PRIVATE` (``0700``, the learner's); their environment."""
    home = Path(entry.pw_dir)
    os.chmod(home, 0o700)
    env = {}
    for var, folder in PRIVATE.items():
        path = home / folder
        path.mkdir(mode=0o700, exist_ok=True)
        os.chown(path, entry.pw_uid, entry.pw_gid)
        os.chmod(path, 0o700)
        env[var] = str(path)
    return env


def remove_system_user(name: str) -> bool:
    """Delete a classroom account and its home (never an account we did not create)."""
    try:
        if pwd.getpwnam(name).pw_gecos != MARK:
            return False
    except KeyError:
        return False
    subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True, timeout=10)
    subprocess.run(["userdel", "--remove", name], capture_output=True, timeout=30)
    return True


def copy_course(repo: Path, home: Path, uid: int, gid: int) -> Path:
    """``~/course`` with the learner notebooks, copied once (the learner's edits are never overwritten)."""
    course = home / "course"
    if not course.exists():
        course.mkdir()
        for folder in ("notebooks", "exercises"):
            if (repo / folder).is_dir():
                shutil.copytree(repo / folder, course / folder)
        for path in [course, *course.rglob("*")]:
            os.chown(path, uid, gid)
    return course


class ClassroomSpawner(LocalProcessSpawner):
    """LocalProcessSpawner plus the learner's account, course copy, credentials and limits."""

    nice = Integer(5, config=True, help="CPU niceness of a learner's server and kernels (0 = same as the hub)")
    nproc_limit = Integer(512, config=True, help="RLIMIT_NPROC: processes and threads of the learner's Unix account")
    course_repo = Unicode("", config=True, help="the checkout whose notebooks/ and exercises/ each learner gets")

    def make_preexec_fn(self, name: str):
        switch_user = super().make_preexec_fn(name)
        memory, nice, nproc = self.mem_limit, self.nice, self.nproc_limit

        def preexec() -> None:  # runs in the child, before exec: limits first, then drop to the learner
            if memory:
                resource.setrlimit(resource.RLIMIT_AS, (int(memory), int(memory)))
            if nproc:  # counted per Unix user, checked at every fork/clone once we are the learner
                resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
            if nice:
                os.nice(nice)
            os.umask(0o077)  # inherited by the server, its kernels and everything they start
            switch_user()

        return preexec

    def get_args(self) -> list[str]:
        """Kernels on IPC sockets in the 0700 runtime folder, never on TCP ports."""
        return [*super().get_args(), "--KernelManager.transport=ipc"]

    async def start(self):
        from workshop.classroom.learners import Roster
        from workshop.config import settings

        learner = Roster(Path(os.environ["WORKSHOP_CLASSROOM_DIR"])).get(self.user.name)
        if learner is None:  # e.g. the instructor's own hub account: it administers, it has no server
            raise WorkshopError(
                f"{self.user.name} is not in the class: workshop classroom up --learners ...,{self.user.name}"
            )
        entry = ensure_system_user(self.user.name)
        private = private_home(entry)
        if self.course_repo:
            copy_course(Path(self.course_repo), Path(entry.pw_dir), entry.pw_uid, entry.pw_gid)
        self.environment = {**self.environment, **learner.env(settings()), **private}
        return await super().start()
