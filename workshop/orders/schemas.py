"""One schema per event type (pydantic), its routing key, and its version.

``validate(event)`` is given to the bus, which calls it on publish *and* on
consume: a producer cannot send a malformed ``PaymentProcessed``, and a
consumer dead-letters one that slipped through (an old producer, a hand-made
message) instead of crashing on ``event.data["amount"]``.

Routing keys follow the course: ``order.ordercreated`` (its
``f"order.{event_type.lower()}"``), ``payment.processed``, and so on.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from workshop.events import Event, SchemaError


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Item(_Data):
    sku: str = Field(min_length=1, max_length=64)
    qty: int = Field(gt=0, le=1000)
    price: float = Field(ge=0)


class OrderCreated(_Data):
    user_id: str = Field(min_length=1)
    items: list[Item] = Field(min_length=1)
    total: float = Field(gt=0)
    status: Literal["pending"] = "pending"


class PaymentProcessed(_Data):
    payment_id: str
    amount: float
    status: Literal["success"] = "success"
    items: list[Item]  # carried forward so inventory needs no call back to the order service


class PaymentFailed(_Data):
    amount: float
    reason: str


class InventoryReserved(_Data):
    items: list[Item]


class InventoryShortage(_Data):
    missing: dict[str, int]  # sku -> how many short
    payment_id: str
    amount: float


class PaymentRefunded(_Data):
    payment_id: str
    amount: float


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


def routing_key(event: Event | str) -> str:
    """The routing key an event type is published with."""
    name = event if isinstance(event, str) else event.event_type
    try:
        return SCHEMAS[name][0]
    except KeyError:
        raise SchemaError(f"unknown event type {name!r}; known: {', '.join(SCHEMAS)}") from None


def validate(event: Event) -> Event:
    """Check ``event.data`` against the schema of its type and version; raises :class:`SchemaError`."""
    if event.event_type not in SCHEMAS:
        raise SchemaError(f"unknown event type {event.event_type!r}")
    versions = SCHEMAS[event.event_type][1]
    model = versions.get(event.schema_version)
    if model is None:
        raise SchemaError(f"{event.event_type} has no schema version {event.schema_version} "
                          f"(known: {sorted(versions)})")
    _check(model, event.data, f"{event.event_type} v{event.schema_version}")
    return event


def _check(model: type[BaseModel], data: dict, what: str) -> dict:
    try:
        return model.model_validate(data).model_dump()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'data'}: {e['msg']}" for e in exc.errors())
        raise SchemaError(f"{what}: {problems}") from None


def make(event_type: str, aggregate_id: str, data: dict, *, cause: Event | None = None) -> Event:
    """Build a checked event; with ``cause`` it joins that event's conversation."""
    model = SCHEMAS[event_type][1][1]
    clean = _check(model, data, f"{event_type} v1")
    event = cause.caused(event_type, clean, aggregate_id) if cause else Event(event_type, aggregate_id, clean)
    return validate(event)
