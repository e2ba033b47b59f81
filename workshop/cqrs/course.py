"""The course's CQRS code, kept as written so the notebook can measure what goes wrong.

Nothing else in the package uses it. The three classes are the course's own, with
only the comments translated; ``event_store`` is anything with the course's
``append(aggregate_id, event_type, data)`` (e.g. :class:`workshop.store.course.CourseEventStore`
or :class:`CourseMemoryStore` below).

What the notebook shows about it:

* **dual write** — ``handle_create_user`` stores, then publishes. If publishing
  fails (or the process dies between the two lines) the event is stored but no
  read model ever hears of it; the caller sees an error and retries, and now
  the user is stored twice.
* **no validation** — ``# Validate  # ...``: an empty name, an address without
  ``@``, a second user with the same email, all accepted.
* **no expected version** — the command never loads the aggregate, so "create"
  twice is two creations.
* **the read model lives in one process's memory** and handles one event type;
  it is gone on restart and cannot be rebuilt (nobody kept its position).
* **the bus is synchronous**: a slow or failing read model makes the *command* slow or failing.
"""

from __future__ import annotations


# Command Handler
class CreateUserCommand:
    def __init__(self, user_id, name, email):
        self.user_id = user_id
        self.name = name
        self.email = email


class CommandHandler:
    def __init__(self, event_store, event_bus):
        self.event_store = event_store
        self.event_bus = event_bus

    def handle_create_user(self, command):
        # Validate
        # ...

        # Create event
        event = {
            'aggregate_id': command.user_id,
            'event_type': 'UserCreated',
            'data': {
                'name': command.name,
                'email': command.email
            }
        }

        # Store event
        self.event_store.append(**event)

        # Publish to event bus
        self.event_bus.publish('UserCreated', event)


# Query Handler (Read Model)
class UserReadModel:
    def __init__(self):
        self.users = {}  # In production: a read-optimised database

    def handle_user_created(self, event):
        """Project event to read model"""
        self.users[event['aggregate_id']] = {
            'id': event['aggregate_id'],
            'name': event['data']['name'],
            'email': event['data']['email'],
            'status': 'inactive'
        }

    def get_user(self, user_id):
        return self.users.get(user_id)

    def get_all_users(self):
        return list(self.users.values())


# Event Bus
class EventBus:
    def __init__(self):
        self.subscribers = {}

    def subscribe(self, event_type, handler):
        if event_type not in self.subscribers:
            self.subscribers[event_type] = []
        self.subscribers[event_type].append(handler)

    def publish(self, event_type, event):
        handlers = self.subscribers.get(event_type, [])
        for handler in handlers:
            handler(event)


# --- not the course's: a place for its handler to store events, so the notebook can run it ---

class CourseMemoryStore:
    """A list with the course's ``append(aggregate_id, event_type, data)`` (synchronous, as its handler calls it)."""

    def __init__(self):
        self.events = []

    def append(self, aggregate_id, event_type, data):
        version = sum(1 for e in self.events if e['aggregate_id'] == aggregate_id) + 1
        self.events.append({'aggregate_id': aggregate_id, 'event_type': event_type, 'data': data,
                            'version': version})
        return version
