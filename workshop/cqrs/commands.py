"""Commands: what a client asks the write side to do, checked before anything happens.

A command is a request in the imperative ("create user-7"), which may be refused;
an event is a fact in the past tense ("user-7 was created"), which may not.
Each command here is a pydantic model: a wrong type, an empty name or an address
without ``@`` is refused with the field at fault, and nothing is stored. Emails
are compared in lower case (``Ada@X.org`` and ``ada@x.org`` are one address).

``command_id`` identifies the request: sending the same command twice (a retry
after a timeout) must have one effect. The events a command produces carry it
as their ``causation_id``, so the handler can recognise a repeat from the stream itself.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

from workshop import users
from workshop.events import Schema

# What is accepted is exactly what the JSON Schema says (no silent stripping or lower-casing),
# so a client reading the OpenAPI document knows which requests will pass.
UserId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
# Explicit character classes, not \s or `.`: regex dialects disagree about which characters those match.
# No NUL (\x00) anywhere: the Schema base refuses it in any text, and the patterns say so to clients.
# A refusal says what was expected in words, not by quoting the pattern.


def _in_words(expected: str) -> WrapValidator:
    def check(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            if exc.errors()[0]["type"] == "string_pattern_mismatch":
                raise PydanticCustomError("string_pattern_mismatch", expected) from None
            raise

    return WrapValidator(check)


Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, pattern=r"^[^ \t\r\n\x00]([^\r\n\x00]*[^ \t\r\n\x00])?$"),
    _in_words("should be one line of text (no line break, no NUL, no blank at either end)"),
]
Email = Annotated[
    str,
    StringConstraints(max_length=254, pattern=r"^[^@ \t\r\n\x00]+@[^@ \t\r\n\x00]+\.[^@ \t\r\n\x00]+$"),
    _in_words("should be an email address like ada@example.org"),
]
CommandId = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[!-~]+$")]


class Command(Schema):
    # python-re: patterns mean what they mean in the JSON Schema validators clients use
    model_config = ConfigDict(strict=True, frozen=True, regex_engine="python-re")

    command_id: CommandId = Field(
        default_factory=lambda: str(uuid.uuid4()), description="the same id twice = the same request (one effect)"
    )
    user_id: UserId

    def to_domain(self):  # pragma: no cover - each command overrides it
        raise NotImplementedError


class CreateUser(Command):
    type: Literal["CreateUser"] = "CreateUser"
    first_name: Name
    last_name: Name
    email: Email

    def to_domain(self) -> users.CreateUser:
        return users.CreateUser(self.user_id, self.first_name, self.last_name, self.email.lower())


class ChangeEmail(Command):
    type: Literal["ChangeEmail"] = "ChangeEmail"
    email: Email

    def to_domain(self) -> users.ChangeEmail:
        return users.ChangeEmail(self.user_id, self.email.lower())


class ActivateUser(Command):
    type: Literal["ActivateUser"] = "ActivateUser"

    def to_domain(self) -> users.ActivateUser:
        return users.ActivateUser(self.user_id)


class DeleteUser(Command):
    type: Literal["DeleteUser"] = "DeleteUser"
    reason: Name = "requested by the user"

    def to_domain(self) -> users.DeleteUser:
        return users.DeleteUser(self.user_id, self.reason)


AnyCommand = Annotated[CreateUser | ChangeEmail | ActivateUser | DeleteUser, Field(discriminator="type")]
_parser: TypeAdapter = TypeAdapter(AnyCommand)


def parse(raw: dict) -> Command:
    """A command from a JSON-like dict with a ``type`` field (raises pydantic's ``ValidationError``)."""
    return _parser.validate_python(raw)
