"""Commands: what a client asks the write side to do, checked before anything happens.

A command is a request in the imperative ("create user-7"), which may be refused;
an event is a fact in the past tense ("user-7 was created"), which may not.
Each command here is a pydantic model: a wrong type, an empty name or an address
without ``@`` is refused with the field at fault, and nothing is stored.

``command_id`` identifies the request: sending the same command twice (a retry
after a timeout) must have one effect. The events a command produces carry it
as their ``causation_id``, so the handler can recognise a repeat from the stream itself.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

from workshop import users

UserId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, max_length=254,
                                         pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
CommandId = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")]


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    command_id: CommandId = Field(default_factory=lambda: str(uuid.uuid4()),
                                  description="the same id twice = the same request (one effect)")
    user_id: UserId

    def to_domain(self):  # pragma: no cover - each command overrides it
        raise NotImplementedError


class CreateUser(Command):
    type: Literal["CreateUser"] = "CreateUser"
    first_name: Name
    last_name: Name
    email: Email

    def to_domain(self) -> users.CreateUser:
        return users.CreateUser(self.user_id, self.first_name, self.last_name, self.email)


class ChangeEmail(Command):
    type: Literal["ChangeEmail"] = "ChangeEmail"
    email: Email

    def to_domain(self) -> users.ChangeEmail:
        return users.ChangeEmail(self.user_id, self.email)


class ActivateUser(Command):
    type: Literal["ActivateUser"] = "ActivateUser"

    def to_domain(self) -> users.ActivateUser:
        return users.ActivateUser(self.user_id)


class DeleteUser(Command):
    type: Literal["DeleteUser"] = "DeleteUser"
    reason: Name = "requested by the user"

    def to_domain(self) -> users.DeleteUser:
        return users.DeleteUser(self.user_id, self.reason)


AnyCommand = Annotated[Union[CreateUser, ChangeEmail, ActivateUser, DeleteUser], Field(discriminator="type")]
_parser: TypeAdapter = TypeAdapter(AnyCommand)


def parse(raw: dict) -> Command:
    """A command from a JSON-like dict with a ``type`` field (raises pydantic's ``ValidationError``)."""
    return _parser.validate_python(raw)
