"""Event stores: the contract, an in-memory store and a PostgreSQL store.

    from workshop.store import MemoryEventStore, PostgresEventStore, ConcurrencyError
    store = await PostgresEventStore.open()          # your namespace's schema
    await store.append("user-1", [event], expected_version=0)

Read ``workshop/store/base.py`` for the contract, ``postgres.py`` for how the
global feed stays gap-free under concurrent writers.
"""

from workshop.store.base import BaseStore, ConcurrencyError, EventStore, Recorded, Snapshot
from workshop.store.memory import MemoryEventStore
from workshop.store.postgres import PostgresEventStore

__all__ = [
    "BaseStore",
    "ConcurrencyError",
    "EventStore",
    "MemoryEventStore",
    "PostgresEventStore",
    "Recorded",
    "Snapshot",
]
