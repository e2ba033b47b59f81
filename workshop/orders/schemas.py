"""One schema per event type (pydantic), its routing key, and its version.

``validate(event)`` is given to the bus, which calls it on publish *and* on
consume: a producer cannot send a malformed ``PaymentProcessed``, and a
consumer dead-letters one that slipped through (an old producer, a hand-made
message) instead of crashing on ``event.data["amount"]``.

Routing keys follow the course: ``order.ordercreated`` (its
``f"order.{event_type.lower()}"``), ``payment.processed``, and so on.

Money is exact: a :data:`Money` amount is a ``Decimal`` with two places that
fits the database's ``numeric(12,2)`` columns, and travels in events as a
JSON *string* with exactly two places (``"12.50"``). A string, because a JSON
number is read back as a binary float by most parsers (Python's included), and
``0.1 + 0.2`` is not ``0.3``; every consumer turns it back into a ``Decimal``
with :func:`money`. A number from an older producer (``12.5``) is still read.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, PlainSerializer, TypeAdapter, ValidationError

from workshop.events import Event, EventSchemas, Schema, SchemaError, check

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999.99")  # the largest numeric(12,2): every amount column of db.py

Money = Annotated[
    Decimal,
    Field(max_digits=12, decimal_places=2),  # no NaN or Infinity either: Decimal fields refuse them
    AfterValidator(lambda d: (d + 0).quantize(CENT)),  # 12.5 -> 12.50, -0 -> 0.00
    PlainSerializer(lambda d: f"{d:.2f}", return_type=str, when_used="json"),
]
_MONEY: TypeAdapter[Decimal] = TypeAdapter(Money)


class _Data(Schema):
    """An order event's data: no unknown fields, no NUL in any text (:class:`~workshop.events.Schema`)."""


class Item(_Data):
    sku: str = Field(min_length=1, max_length=64)
    qty: int = Field(gt=0, le=1000)
    price: Annotated[Money, Field(ge=0)]


class OrderCreated(_Data):
    user_id: str = Field(min_length=1)
    items: list[Item] = Field(min_length=1)
    total: Annotated[Money, Field(gt=0)]
    status: Literal["pending"] = "pending"


class PaymentProcessed(_Data):
    payment_id: str
    amount: Money
    status: Literal["success"] = "success"
    items: list[Item]  # carried forward so inventory needs no call back to the order service


class PaymentFailed(_Data):
    amount: Money
    reason: str


class InventoryReserved(_Data):
    items: list[Item]


class InventoryShortage(_Data):
    missing: dict[str, int]  # sku -> how many short
    payment_id: str
    amount: Money


class PaymentRefunded(_Data):
    payment_id: str
    amount: Money


class OrderShipped(_Data):
    tracking_number: str


class OrderCancelled(_Data):
    reason: Literal["payment_failed", "out_of_stock"]


class NotificationSent(_Data):
    user_id: str
    about: str  # the event type that triggered it
    text: str


# event type -> (routing key, {schema_version: model})
SCHEMAS: dict[str, tuple[str, dict[int, type[BaseModel]]]] = {
    "OrderCreated": ("order.ordercreated", {1: OrderCreated}),
    "PaymentProcessed": ("payment.processed", {1: PaymentProcessed}),
    "PaymentFailed": ("payment.failed", {1: PaymentFailed}),
    "InventoryReserved": ("inventory.reserved", {1: InventoryReserved}),
    "InventoryShortage": ("inventory.shortage", {1: InventoryShortage}),
    "PaymentRefunded": ("payment.refunded", {1: PaymentRefunded}),
    "OrderShipped": ("shipping.shipped", {1: OrderShipped}),
    "OrderCancelled": ("order.cancelled", {1: OrderCancelled}),
    "NotificationSent": ("notification.sent", {1: NotificationSent}),
}


EVENTS = EventSchemas({name: versions for name, (_, versions) in SCHEMAS.items()})
"""The order events' schemas; ``EVENTS.validate`` is the buses' hook."""


def routing_key(event: Event | str) -> str:
    """The routing key an event type is published with."""
    name = event if isinstance(event, str) else event.event_type
    try:
        return SCHEMAS[name][0]
    except KeyError:
        raise SchemaError(f"unknown event type {name!r}; known: {', '.join(SCHEMAS)}") from None


def validate(event: Event) -> Event:
    """Check ``event.data`` against the schema of its type and version; raises :class:`SchemaError`."""
    return EVENTS.validate(event)


def money(value: Any) -> Decimal:
    """An amount as an exact ``Decimal`` with two places: ``money("12.5") == Decimal("12.50")``.

    Takes what an event carries (``"12.50"``, or a number from an older producer);
    raises :class:`SchemaError` for anything else (``"lots"``, ``1.004``, NaN, 1e10).
    """
    try:
        return _MONEY.validate_python(value)
    except ValidationError as exc:
        raise SchemaError(f"amount {str(value)[:40]!r}: {exc.errors()[0]['msg']}") from None


def order_total(items: Iterable[dict]) -> Decimal:
    """The sum of ``qty * price`` over the items, exactly (each item checked against :class:`Item`)."""
    checked = [check(Item, item, f"items.{n}") for n, item in enumerate(items)]
    return sum((money(i["price"]) * i["qty"] for i in checked), Decimal("0.00"))


def make(event_type: str, aggregate_id: str, data: dict, *, cause: Event | None = None) -> Event:
    """Build a checked event; with ``cause`` it joins that event's conversation."""
    if cause is None:
        return EVENTS.make(event_type, aggregate_id, data, schema_version=1)
    clean = check(SCHEMAS[event_type][1][1], data, f"{event_type} v1")
    return cause.caused(event_type, clean, aggregate_id)
