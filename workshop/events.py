"""The event envelope every chapter uses.

It keeps the course's ``Event`` shape (``event_type``, ``aggregate_id``, ``data``,
``timestamp``, ``version``, ``to_json()`` / ``from_json()``) and adds what real
systems need:

* ``event_id`` — a unique id, so a consumer can recognise a redelivery (idempotency);
* ``correlation_id`` — the id of the conversation (e.g. one order's saga);
* ``causation_id`` — the id of the event that caused this one;
* ``schema_version`` — the version of ``data``'s shape, for upcasting.

Timestamps are timezone-aware UTC (the course's ``datetime.utcnow()`` is
deprecated and naive). JSON from the course's ``to_json()`` (five fields) still
loads: the new fields get sensible defaults.

Two errors: :class:`EventFormatError` (not an event at all) and its subclass
:class:`SchemaError` (an event whose ``data`` breaks its schema). Stores and
buses check ``data`` through the same hook, ``validate=`` (see :data:`Validator`).

    >>> e = Event("UserCreated", "user-1", {"name": "Alice"})
    >>> Event.from_json(e.to_json()) == e
    True
"""

from __future__ import annotations

import functools
import json
import uuid
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from datetime import datetime, timezone
from typing import Any, Callable

from workshop.errors import WorkshopError


class EventFormatError(WorkshopError, ValueError):
    """A message is not a valid event: bad JSON, a missing field, a wrong type."""


class SchemaError(EventFormatError):
    """A well-formed event whose ``data`` does not match its schema (or an unknown version)."""


def utc_now() -> str:
    """The current time as an ISO-8601 string with its ``+00:00`` offset."""
    return datetime.now(timezone.utc).isoformat()


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class Event:
    event_type: str
    aggregate_id: str
    data: dict[str, Any]
    timestamp: str = field(default_factory=utc_now)
    version: int = 1
    event_id: str = field(default_factory=new_id)
    correlation_id: str | None = None
    causation_id: str | None = None
    schema_version: int = 1

    def __post_init__(self) -> None:
        if self.timestamp is None:  # the course passes None explicitly
            self.timestamp = utc_now()
        if self.correlation_id is None:  # a new conversation starts with this event
            self.correlation_id = self.event_id
        _validate(self)

    # --- the course's API ---------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        # the fields as they are: asdict() deep-copies `data`, which a dump does not need (~3x faster)
        return json.dumps({f.name: getattr(self, f.name) for f in fields(self)}, separators=(",", ":"),
                          sort_keys=True, default=_plain)

    @classmethod
    def from_dict(cls, raw: Any) -> "Event":
        if not isinstance(raw, dict):
            raise EventFormatError(f"an event must be a JSON object, got {type(raw).__name__}")
        if not ("event_type" in raw and "aggregate_id" in raw and "data" in raw):  # the common case costs 3 lookups
            missing = [f for f in ("event_type", "aggregate_id", "data") if f not in raw]
            raise EventFormatError(f"event is missing field(s) {', '.join(missing)}: {_short(raw)}")
        names = _field_names(cls)
        if not names.issuperset(raw):
            unknown = sorted(set(raw) - names)
            raise EventFormatError(f"event has unknown field(s) {', '.join(unknown)}: {_short(raw)}")
        try:
            return cls(**raw)
        except TypeError as exc:  # e.g. a required field set to null
            raise EventFormatError(f"{exc}: {_short(raw)}") from None

    @classmethod
    def from_json(cls, text: str | bytes) -> "Event":
        try:
            raw = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise EventFormatError(f"not valid JSON ({exc.msg if hasattr(exc, 'msg') else exc}): {_short(text)}") from None
        return cls.from_dict(raw)

    # --- helpers ----------------------------------------------------------------
    def caused(self, event_type: str, data: dict[str, Any], aggregate_id: str | None = None, **kw: Any) -> "Event":
        """A follow-up event: same conversation (correlation), caused by this one."""
        return Event(
            event_type=event_type,
            aggregate_id=aggregate_id or self.aggregate_id,
            data=data,
            correlation_id=self.correlation_id,
            causation_id=self.event_id,
            **kw,
        )

    def replace(self, **changes: Any) -> "Event":
        """A copy with some fields changed (events themselves are never edited)."""
        return replace(self, **changes)

    @property
    def when(self) -> datetime:
        return datetime.fromisoformat(self.timestamp)


@functools.cache
def _field_names(cls: type) -> frozenset[str]:
    """The envelope's field names, computed once per class (``from_dict`` runs on every delivery)."""
    return frozenset(f.name for f in fields(cls))


def _plain(value: Any) -> Any:
    """What ``asdict`` would have made of a dataclass nested in ``data``; anything else cannot be JSON."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _validate(e: Event) -> None:
    if not (type(e.event_type) is str and e.event_type and type(e.aggregate_id) is str and e.aggregate_id
            and type(e.data) is dict and type(e.version) is int and e.version >= 1
            and type(e.schema_version) is int and e.schema_version >= 1 and type(e.event_id) is str and e.event_id):
        _explain_invalid(e)  # the usual event passes the line above; anything else gets the full checks
    try:
        when = datetime.fromisoformat(e.timestamp)
    except (TypeError, ValueError):
        raise EventFormatError(f"timestamp {e.timestamp!r} is not an ISO-8601 date-time") from None
    if when.tzinfo is None:  # the course's utcnow() strings: naive, meant as UTC
        e.timestamp = when.replace(tzinfo=timezone.utc).isoformat()


def _explain_invalid(e: Event) -> None:
    """Raise for the first field that is wrong (subclasses of str, dict and int pass)."""
    checks: list[tuple[bool, str]] = [
        (isinstance(e.event_type, str) and bool(e.event_type), "event_type must be a non-empty string"),
        (isinstance(e.aggregate_id, str) and bool(e.aggregate_id), "aggregate_id must be a non-empty string"),
        (isinstance(e.data, dict), "data must be an object (dict)"),
        (isinstance(e.version, int) and not isinstance(e.version, bool) and e.version >= 1, "version must be an integer >= 1"),
        (isinstance(e.schema_version, int) and not isinstance(e.schema_version, bool) and e.schema_version >= 1,
         "schema_version must be an integer >= 1"),
        (isinstance(e.event_id, str) and bool(e.event_id), "event_id must be a non-empty string"),
    ]
    for ok, message in checks:
        if not ok:
            raise EventFormatError(f"{message} (event_type={e.event_type!r}, aggregate_id={e.aggregate_id!r})")


def _short(value: Any, limit: int = 120) -> str:
    text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- checking data: one hook for stores and buses ------------------------------------------

Validator = Callable[[Event], object]
"""``validate(event)`` raises :class:`EventFormatError` when ``event.data`` is wrong; its return
value is ignored. Stores (``append``) and buses (``publish`` and every delivery) take one as
``validate=``: a domain's :class:`EventTypes`, ``orders.schemas.validate``, or any function."""


def validated(event: Event, validate: Validator | None) -> Event:
    """Run ``validate`` on ``event``; what it rejects comes out as :class:`SchemaError`.

    The one place stores and buses call their ``validate=`` hook, so a bad event reads
    the same everywhere: one line, the validator's own message.
    """
    if validate is not None:
        try:
            validate(event)
        except SchemaError:
            raise
        except EventFormatError as exc:
            raise SchemaError(str(exc)) from None
    return event


class EventTypes:
    """A domain's event types and what their ``data`` must hold; ``validate`` is its hook.

    Each domain keeps its own (``users.TYPES``) and hands ``validate`` to its stores
    and buses, so what is accepted never depends on which modules were imported::

        TYPES = EventTypes()
        EmailUpdated = TYPES.register("EmailUpdated", {"email": str})
        EmailUpdated("user-1", email="ada@example.com")     # an Event; bad data raises
        store = MemoryEventStore(validate=TYPES.validate)

    Types nobody registered pass unchecked.
    """

    def __init__(self) -> None:
        self._checks: dict[str, Callable[[dict[str, Any]], None]] = {}

    def register(self, event_type: str, required: dict[str, type | tuple[type, ...]]) -> Callable[..., Event]:
        """Declare ``event_type`` with the fields its ``data`` must have.

        Returns a factory ``make(aggregate_id, **data) -> Event`` that rejects bad
        data before an event even exists.
        """

        def check_data(data: dict[str, Any]) -> None:
            problems = []
            for name, typ in required.items():
                if name not in data:
                    problems.append(f"missing {name!r}")
                elif not isinstance(data[name], typ) or isinstance(data[name], bool) and bool not in _as_tuple(typ):
                    problems.append(f"{name!r} should be {_type_names(typ)}, got {type(data[name]).__name__}")
            if problems:
                raise SchemaError(f"{event_type}: " + "; ".join(problems))

        self.add(event_type, check_data)

        def make(aggregate_id: str, **data: Any) -> Event:
            check_data(data)
            return Event(event_type, aggregate_id, data)

        make.__name__ = make.__qualname__ = event_type
        make.__doc__ = f"Create a {event_type} event; data needs {', '.join(required) or 'nothing'}."
        return make

    def add(self, event_type: str, check_data: Callable[[dict[str, Any]], None]) -> None:
        """Use a hand-written ``check_data(data)`` (raising :class:`SchemaError`) for ``event_type``."""
        self._checks[event_type] = check_data

    def validate(self, event: Event) -> Event:
        """The hook: check ``event.data`` against its registered type (unregistered types pass)."""
        check_data = self._checks.get(event.event_type)
        if check_data:
            check_data(event.data)
        return event

    def __repr__(self) -> str:
        return f"EventTypes({', '.join(self._checks)})"


def _as_tuple(typ: type | tuple[type, ...]) -> tuple[type, ...]:
    return typ if isinstance(typ, tuple) else (typ,)


def _type_names(typ: type | tuple[type, ...]) -> str:
    return " or ".join(t.__name__ for t in _as_tuple(typ))
