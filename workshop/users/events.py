"""User events. ``UserCreated`` changed shape once, so it has an upcaster.

* v1 (the course): ``{"name": "Alice", "email": …}``
* v2 (now):        ``{"first_name": "Alice", "last_name": "Liddell", "email": …}``

Old v1 events stay in the store as they are; :func:`split_name` turns them into
v2 whenever they are read.

Stores for users take ``validate=users.validate`` (bad data never reaches the
log) and ``upcasters=users.UPCASTERS``.
"""

from __future__ import annotations

from typing import Any

from workshop.events import Event, EventTypes, SchemaError
from workshop.store.crypto import REDACTED
from workshop.store.upcasting import Upcasters

# fields that identify a person: encrypted with the user's own key (crypto-shredding)
PERSONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "UserCreated": ("name", "first_name", "last_name", "email"),
    "EmailUpdated": ("email",),
}


def _check_user_created(data: dict[str, Any]) -> None:
    """Either shape is a valid UserCreated: v1 (name) or v2 (first_name, last_name)."""
    v2 = isinstance(data.get("first_name"), str) and isinstance(data.get("last_name"), str)
    v1 = isinstance(data.get("name"), str)
    problems = [] if (v1 or v2) else ["needs 'first_name' and 'last_name' (or v1's 'name') as strings"]
    if not isinstance(data.get("email"), str) or "@" not in data.get("email", ""):
        problems.append(f"'email' should be an address, got {data.get('email')!r}")
    if problems:
        raise SchemaError("UserCreated: " + "; ".join(problems))


TYPES = EventTypes()
"""The user event types; ``TYPES.validate`` is the hook a store takes (``users.validate``)."""
TYPES.add("UserCreated", _check_user_created)
validate = TYPES.validate


def UserCreated(user_id: str, first_name: str, last_name: str, email: str, **kw: Any) -> Event:
    """A new user, in the current schema (v2)."""
    data = {"first_name": first_name, "last_name": last_name, "email": email}
    _check_user_created(data)
    return Event("UserCreated", user_id, data, schema_version=2, **kw)


EmailUpdated = TYPES.register("EmailUpdated", {"email": str})
UserActivated = TYPES.register("UserActivated", {})
UserDeleted = TYPES.register("UserDeleted", {"reason": str})  # a soft delete: the history stays


UPCASTERS = Upcasters()
"""Give this to a store (``upcasters=users.UPCASTERS``) so old user events read in today's shape."""


@UPCASTERS.register("UserCreated", from_version=1)
def split_name(data: dict) -> dict:
    """UserCreated v1 → v2: ``name`` becomes ``first_name`` + ``last_name``."""
    name = data.pop("name", "")
    if name == REDACTED:  # a forgotten user: nothing left to split
        first, last = REDACTED, REDACTED
    else:
        first, _, last = name.strip().partition(" ")
    return {**data, "first_name": first, "last_name": last}
