"""The course's User aggregate: pure functions, no I/O.

* ``events``   — the event types, their factories and ``validate`` (a store's hook)
* ``model``    — ``evolve(state, event) -> state`` and ``decide(command, state) -> events``
* ``view``     — a read model of all users, built from the global feed

    from workshop import users
    events = users.decide(users.CreateUser("user-1", "Alice", "Liddell", "alice@example.com"), {})
    state = users.fold(events)
    store = MemoryEventStore(validate=users.validate, upcasters=users.UPCASTERS)
"""

from workshop.users.events import (
    PERSONAL_FIELDS,
    SCHEMAS,
    UPCASTERS,
    EmailUpdated,
    UserActivated,
    UserCreated,
    UserDeleted,
    split_name,
    validate,
)
from workshop.users.model import (
    ActivateUser,
    ChangeEmail,
    CreateUser,
    DeleteUser,
    UserError,
    decide,
    evolve,
    fold,
)
from workshop.users.view import UsersView

__all__ = [
    "PERSONAL_FIELDS",
    "SCHEMAS",
    "UPCASTERS",
    "EmailUpdated",
    "UserActivated",
    "UserCreated",
    "UserDeleted",
    "split_name",
    "validate",
    "ActivateUser",
    "ChangeEmail",
    "CreateUser",
    "DeleteUser",
    "UserError",
    "decide",
    "evolve",
    "fold",
    "UsersView",
]
