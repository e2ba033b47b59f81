"""Upcasting: old events are read in today's shape; stored rows are never rewritten.

Events are immutable history, yet their shape changes: ``UserCreated`` once
carried ``name`` (schema v1) and now carries ``first_name``/``last_name`` (v2).
Instead of migrating the table, the store runs each old event through a chain
of small functions on the way *out*: v1 → v2 → v3 … until it is current. The
domain code (``evolve``) only ever sees the current schema.

Each domain owns its chain (``users.UPCASTERS``) and hands it to the store:
``MemoryEventStore(upcasters=users.UPCASTERS)``. No global registry, so what a
store returns never depends on which modules happen to be imported.

    >>> chain = Upcasters()
    >>> @chain.register("UserCreated", from_version=1)
    ... def split_name(data: dict) -> dict:
    ...     first, _, last = data.pop("name").partition(" ")
    ...     return {**data, "first_name": first, "last_name": last}
    >>> old = Event("UserCreated", "user-1", {"name": "Ada Lovelace"})
    >>> chain.upcast(old).data
    {'first_name': 'Ada', 'last_name': 'Lovelace'}
    >>> old.data            # the stored event is untouched
    {'name': 'Ada Lovelace'}
"""

from __future__ import annotations

from collections.abc import Callable

from workshop.events import Event

Step = Callable[[dict], dict]


class Upcasters:
    """A chain of ``(event_type, from_version) -> step`` functions."""

    def __init__(self) -> None:
        self._steps: dict[tuple[str, int], Step] = {}

    def register(self, event_type: str, from_version: int) -> Callable[[Step], Step]:
        """Decorator: ``step(data) -> new data`` turns ``from_version`` into ``from_version + 1``."""

        def add(step: Step) -> Step:
            self._steps[(event_type, from_version)] = step
            return step

        return add

    def upcast(self, event: Event) -> Event:
        """The event in its latest schema (a new object; the argument is not changed)."""
        key = (event.event_type, event.schema_version)
        if key not in self._steps:  # the common case: already current
            return event
        data, version = dict(event.data), event.schema_version
        while (event.event_type, version) in self._steps:
            data = self._steps[(event.event_type, version)](dict(data))
            version += 1
        return event.replace(data=data, schema_version=version)

    def __bool__(self) -> bool:
        return bool(self._steps)

    def __repr__(self) -> str:
        steps = ", ".join(f"{t} v{v}→v{v + 1}" for t, v in sorted(self._steps))
        return f"Upcasters({steps})"
