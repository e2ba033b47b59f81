"""The User aggregate as two pure functions.

``evolve(state, event) -> state`` — how an event changes the state. It never
mutates its input (the course's handlers did: ``state['email'] = …`` changed
every earlier copy of the state, so "state at version 2" could be wrong).

``decide(command, state) -> [events]`` — what a command means, given the
state. The rules live here, not in the store.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from workshop.errors import WorkshopError
from workshop.events import Event
from workshop.store.crypto import REDACTED
from workshop.users.events import UPCASTERS, EmailUpdated, UserActivated, UserCreated, UserDeleted

State = dict[str, Any]


class UnknownEventWarning(UserWarning):
    """``evolve`` met an event type it has no handler for (it skipped it)."""


def _created(state: State, e: Event) -> State:
    e = UPCASTERS.upcast(e)  # a store with upcasters=users.UPCASTERS did this already; a raw list may not have
    first, last = e.data.get("first_name", ""), e.data.get("last_name", "")
    name = REDACTED if REDACTED in (first, last) else f"{first} {last}".strip()
    return {"id": e.aggregate_id, "name": name, "email": e.data["email"], "status": "inactive"}


def _email_updated(state: State, e: Event) -> State:
    return {**state, "email": e.data["email"]}


def _activated(state: State, e: Event) -> State:
    return {**state, "status": "active"}


def _deleted(state: State, e: Event) -> State:
    return {**state, "status": "deleted"}


HANDLERS: dict[str, Callable[[State, Event], State]] = {
    "UserCreated": _created,
    "EmailUpdated": _email_updated,
    "UserActivated": _activated,
    "UserDeleted": _deleted,
}


def evolve(state: State, event: Event) -> State:
    """The state after ``event``. Unknown event types are skipped with a warning."""
    handler = HANDLERS.get(event.event_type)
    if handler is None:
        warnings.warn(f"evolve: no handler for {event.event_type!r}; event skipped", UnknownEventWarning, stacklevel=2)
        return state
    return handler(state, event)


def fold(events: Iterable[Event], state: State | None = None) -> State:
    """Replay events from ``state`` (default: nothing yet)."""
    state = {} if state is None else state
    for e in events:
        state = evolve(state, e)
    return state


# --- commands and the decisions they lead to ------------------------------------------


class UserError(WorkshopError):
    """A command that the user's current state does not allow."""


@dataclass(frozen=True)
class CreateUser:
    user_id: str
    first_name: str
    last_name: str
    email: str


@dataclass(frozen=True)
class ChangeEmail:
    user_id: str
    email: str


@dataclass(frozen=True)
class ActivateUser:
    user_id: str


@dataclass(frozen=True)
class DeleteUser:
    user_id: str
    reason: str = "requested by the user"


def decide(command: Any, state: State) -> list[Event]:
    """The events a command produces, or :class:`UserError` if it is not allowed."""
    if isinstance(command, CreateUser):
        if state:
            raise UserError(f"user {command.user_id!r} already exists")
        return [UserCreated(command.user_id, command.first_name, command.last_name, command.email)]
    if not state:
        raise UserError(f"user {command.user_id!r} does not exist")
    if state.get("status") == "deleted":
        raise UserError(f"user {command.user_id!r} was deleted")
    if isinstance(command, ChangeEmail):
        return [] if state["email"] == command.email else [EmailUpdated(command.user_id, email=command.email)]
    if isinstance(command, ActivateUser):
        return [] if state["status"] == "active" else [UserActivated(command.user_id)]
    if isinstance(command, DeleteUser):
        return [UserDeleted(command.user_id, reason=command.reason)]
    raise UserError(f"unknown command {type(command).__name__}")
