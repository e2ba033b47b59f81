"""User events, one pydantic schema per type and version. ``UserCreated`` changed shape once, so it has an upcaster.

* v1 (the course): ``{"name": "Alice", "email": …}``
* v2 (now):        ``{"first_name": "Alice", "last_name": "Liddell", "email": …}``

Old v1 events stay in the store as they are; :func:`split_name` turns them into
v2 whenever they are read.

Stores for users take ``validate=users.validate`` (bad data never reaches the
log: each event's ``data`` is checked against the schema of its type and
``schema_version``, in one line naming the field) and ``upcasters=users.UPCASTERS``.
Event types that are not the users' pass unchecked.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict
from pydantic_core import PydanticCustomError

from workshop.events import Event, EventSchemas, Schema
from workshop.store.crypto import REDACTED
from workshop.store.upcasting import Upcasters

# fields that identify a person: encrypted with the user's own key (crypto-shredding)
PERSONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "UserCreated": ("name", "first_name", "last_name", "email"),
    "EmailUpdated": ("email",),
}


def _address(value: str) -> str:
    if "@" not in value:
        raise PydanticCustomError("address", "should be an address, got {got}", {"got": repr(value[:40])})
    return value


Address = Annotated[str, AfterValidator(_address)]


class _UserData(Schema):
    model_config = ConfigDict(strict=True)  # a number is not a name


class UserCreatedV1(_UserData):
    """The course's shape: one ``name``."""

    name: str
    email: Address


class UserCreatedV2(_UserData):
    first_name: str
    last_name: str
    email: Address


class EmailUpdatedData(_UserData):
    email: Address


class UserActivatedData(_UserData):
    pass


class UserDeletedData(_UserData):
    reason: str  # a soft delete: the history stays


SCHEMAS = EventSchemas(
    {
        "UserCreated": {1: UserCreatedV1, 2: UserCreatedV2},
        "EmailUpdated": {1: EmailUpdatedData},
        "UserActivated": {1: UserActivatedData},
        "UserDeleted": {1: UserDeletedData},
    },
    others="pass",
)
"""The user event types; ``SCHEMAS.validate`` is the hook a store takes (``users.validate``)."""
validate = SCHEMAS.validate


def UserCreated(user_id: str, first_name: str, last_name: str, email: str, **kw: Any) -> Event:
    """A new user, in the current schema (v2)."""
    return SCHEMAS.make(
        "UserCreated", user_id, {"first_name": first_name, "last_name": last_name, "email": email}, **kw
    )


def EmailUpdated(user_id: str, *, email: str, **kw: Any) -> Event:
    return SCHEMAS.make("EmailUpdated", user_id, {"email": email}, **kw)


def UserActivated(user_id: str, **kw: Any) -> Event:
    return SCHEMAS.make("UserActivated", user_id, {}, **kw)


def UserDeleted(user_id: str, *, reason: str, **kw: Any) -> Event:
    return SCHEMAS.make("UserDeleted", user_id, {"reason": reason}, **kw)


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
