"""The order saga's decisions as pure functions: event in, events out. No I/O here.

Choreography — nobody orchestrates; each service reacts to the previous step::

    OrderCreated ─► payment ─► PaymentProcessed ─► inventory ─► InventoryReserved ─► shipping ─► OrderShipped
                       │                               │
                       └► PaymentFailed ─► order ─► OrderCancelled(payment_failed)
                                                       └► InventoryShortage ─► payment ─► PaymentRefunded
                                                                                 ─► order ─► OrderCancelled(out_of_stock)

and notification reacts to every step. The service modules call these
functions inside a database transaction (see :mod:`workshop.orders.service`).

Amounts are exact: events carry them as strings with two places (``"12.50"``,
see :mod:`workshop.orders.schemas`); a decision that compares one turns it into
a ``Decimal`` first with :func:`~workshop.orders.schemas.money`.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from decimal import Decimal

from workshop.errors import WorkshopError
from workshop.events import Event
from workshop.orders.schemas import make, money, order_total

CREDIT_LIMIT = Decimal("1000")  # the payment "gateway" declines anything above this
FINAL_STATES = ("shipped", "cancelled")


class IdempotencyConflict(WorkshopError):
    """An idempotency key that already created an order, sent again with a different order (HTTP 409).

    A rule of the domain, beside the decisions: the API maps it to 409 without importing
    the service. (When ``order.py`` still ran as ``__main__``, its own copy of this class
    slipped past the API's handler as a 500.)
    """


def new_order_id() -> str:
    """``ORD-<uuid4>``: unique without coordination (the course's ``ORD-<unix time>`` repeats within a second)."""
    return f"ORD-{uuid.uuid4()}"


def place_order(order_id: str, user_id: str, items: list[dict], total: Decimal | float | str | None = None) -> Event:
    """The first event of every saga; ``total`` defaults to the items' sum."""
    if total is None:
        total = order_total(items)
    return make("OrderCreated", order_id, {"user_id": user_id, "items": items, "total": total})


def charge(order: Event, limit: Decimal | float = CREDIT_LIMIT) -> Event:
    """Payment: take the money, or say why not."""
    total = order.data["total"]
    if money(total) > Decimal(str(limit)):
        return make(
            "PaymentFailed", order.aggregate_id, {"amount": total, "reason": f"over the {limit:g} limit"}, cause=order
        )
    return make(
        "PaymentProcessed",
        order.aggregate_id,
        {"payment_id": f"PAY-{order.aggregate_id}", "amount": total, "items": order.data["items"]},
        cause=order,
    )


def reserve(stock: Mapping[str, int], payment: Event) -> tuple[dict[str, int], Event]:
    """Inventory: reserve every item or none.

    Returns the new stock levels of the skus it touched and the event:
    ``InventoryReserved`` or, if anything is short, ``InventoryShortage`` (stock
    untouched) carrying what payment needs to refund — the compensation.
    """
    wanted: dict[str, int] = {}
    for item in payment.data["items"]:
        wanted[item["sku"]] = wanted.get(item["sku"], 0) + item["qty"]
    missing = {sku: qty - stock.get(sku, 0) for sku, qty in wanted.items() if stock.get(sku, 0) < qty}
    if missing:
        return {}, make(
            "InventoryShortage",
            payment.aggregate_id,
            {"missing": missing, "payment_id": payment.data["payment_id"], "amount": payment.data["amount"]},
            cause=payment,
        )
    new_levels = {sku: stock[sku] - qty for sku, qty in wanted.items()}
    return new_levels, make("InventoryReserved", payment.aggregate_id, {"items": payment.data["items"]}, cause=payment)


def refund(shortage: Event) -> Event:
    """Payment's compensation for an inventory shortage."""
    return make(
        "PaymentRefunded",
        shortage.aggregate_id,
        {"payment_id": shortage.data["payment_id"], "amount": shortage.data["amount"]},
        cause=shortage,
    )


def ship(reserved: Event) -> Event:
    """Shipping: a tracking number (derived from the order id, so a retry gives the same one)."""
    digest = hashlib.sha1(reserved.aggregate_id.encode()).hexdigest()[:10].upper()
    return make("OrderShipped", reserved.aggregate_id, {"tracking_number": f"TRK-{digest}"}, cause=reserved)


# --- the order's own view of its saga -----------------------------------------------------

STATUS_AFTER = {
    "OrderCreated": "pending",
    "PaymentProcessed": "paid",
    "InventoryReserved": "reserved",
    "OrderShipped": "shipped",
    "PaymentFailed": "cancelling",
    "InventoryShortage": "cancelling",
    "PaymentRefunded": "cancelling",
    "OrderCancelled": "cancelled",
}


_RANK = {"pending": 0, "paid": 1, "reserved": 2, "cancelling": 2, "shipped": 3, "cancelled": 3}


def next_status(current: str, event: Event) -> str:
    """The order's status after ``event``: only forward (events may arrive out of order), final stays final."""
    new = STATUS_AFTER.get(event.event_type, current)
    return new if _RANK[new] > _RANK[current] else current


def order_reaction(event: Event) -> Event | None:
    """What the order service publishes in reaction: it closes failed sagas."""
    if event.event_type == "PaymentFailed":
        return make("OrderCancelled", event.aggregate_id, {"reason": "payment_failed"}, cause=event)
    if event.event_type == "PaymentRefunded":
        return make("OrderCancelled", event.aggregate_id, {"reason": "out_of_stock"}, cause=event)
    return None


NOTIFY = {
    "OrderCreated": "We received your order {id}.",
    "PaymentProcessed": "Payment of {amount} accepted for {id}.",  # amounts arrive as "12.50"
    "PaymentFailed": "Payment for {id} was declined.",
    "PaymentRefunded": "{amount} refunded for {id}: an item is out of stock.",
    "OrderShipped": "Order {id} shipped, tracking {tracking_number}.",
    "OrderCancelled": "Order {id} was cancelled ({reason}).",
}


def notification(event: Event, user_id: str) -> Event | None:
    """Notification: a message for the customer about steps they care about."""
    template = NOTIFY.get(event.event_type)
    if template is None:
        return None
    text = template.format(id=event.aggregate_id, **{k: v for k, v in event.data.items() if k != "id"})
    return make(
        "NotificationSent",
        event.aggregate_id,
        {"user_id": user_id, "about": event.event_type, "text": text},
        cause=event,
    )
