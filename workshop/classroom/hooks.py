"""The per-learner provisioning as a JupyterHub ``pre_spawn_hook`` — for any spawner.

On one machine ``workshop classroom up`` provisions the class before the hub
starts. On Kubernetes (Zero to JupyterHub, ``docker/jupyterhub/values.yaml``)
the hub pod runs this hook instead, before each learner's pod starts:

    c.Spawner.pre_spawn_hook = "workshop.classroom.hooks.provision_on_spawn"   # (as the function)

It creates the learner's credentials on first spawn (kept in
``$WORKSHOP_CLASSROOM_DIR``, the hub's persistent volume there), sets up its
PostgreSQL role and database, RabbitMQ vhost and user, Redis ACL user (all safe to
repeat), and puts the credentials in the spawner's environment. The hub pod's
own environment holds the administrator URLs (from a Kubernetes Secret).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from workshop.classroom import provision
from workshop.classroom.learners import Learner, Roster
from workshop.config import settings


def _provision(name: str) -> Learner:
    admin = settings()
    roster = Roster(Path(os.environ["WORKSHOP_CLASSROOM_DIR"]))
    provision.prepare(admin)
    return provision.provision(admin, roster.ensure(name))


async def provision_on_spawn(spawner) -> None:
    """``pre_spawn_hook``: provision ``spawner.user.name`` and hand its credentials to the server."""
    learner = await asyncio.to_thread(_provision, spawner.user.name)
    spawner.environment = {**spawner.environment, **learner.env(settings())}
