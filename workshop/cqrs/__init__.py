"""Chapter 4 — CQRS: commands to an event store, events to read models.

* ``course``      — the course's ``CommandHandler``, ``UserReadModel`` and ``EventBus``, as written
* ``commands``    — validated commands (pydantic) with a ``command_id``
* ``handler``     — load, decide, append with the expected version; idempotent; no publishing
* ``uniqueness``  — one account per email: the racy read-model check, and reservations
* ``relay``       — the global feed → RabbitMQ (the only publisher)
* ``projectors``  — feed → read model, checkpoint in the same transaction (PostgreSQL, Redis)
* ``readmodels``  — the users table, signups per day, activity in Redis
* ``rebuild``     — blue/green rebuild and the ``users`` view
* ``lag``         — command accepted → visible, per read model
* ``system``      — all of it in one process; ``write_api`` / ``read_api`` — the two FastAPI apps
"""

from workshop.cqrs.commands import ActivateUser, ChangeEmail, CreateUser, DeleteUser
from workshop.cqrs.handler import Accepted, CommandHandler, CommandRejected

__all__ = [
    "Accepted",
    "ActivateUser",
    "ChangeEmail",
    "CommandHandler",
    "CommandRejected",
    "CqrsSystem",
    "CreateUser",
    "DeleteUser",
]


def __getattr__(name: str):  # imported on first use: importing one module of the package need not import them all
    if name == "CqrsSystem":
        from workshop.cqrs.system import CqrsSystem

        return CqrsSystem
    raise AttributeError(name)
