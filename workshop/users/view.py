"""A read model of all users, built from the global feed (soft deletes drop out).

A view is one more fold: over *every* stream's events, in feed order. Deleted
users leave the view, but their history stays in the store and still replays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from workshop.events import Event
from workshop.users.model import State, evolve


@dataclass
class UsersView:
    users: dict[str, State] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    position: int = 0  # the last feed position applied

    def apply(self, event: Event, position: int | None = None) -> UsersView:
        if event.event_type in ("UserCreated", "EmailUpdated", "UserActivated", "UserDeleted"):
            state = evolve(self.users.get(event.aggregate_id, {}), event)
            if state.get("status") == "deleted":
                self.users.pop(event.aggregate_id, None)
                self.deleted.add(event.aggregate_id)
            else:
                self.users[event.aggregate_id] = state
        if position is not None:
            self.position = position
        return self

    def active(self) -> list[State]:
        return [u for u in self.users.values() if u["status"] == "active"]
