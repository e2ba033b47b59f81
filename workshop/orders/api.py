"""The course's HTTP API for the order service, with FastAPI: ``POST /orders``, ``GET /orders/{id}``, ``GET /healthz``.

Differences from the course's ``order-service/app.py``, each on purpose:

* the request is validated field by field, strictly (``qty: "3"`` or ``true``
  is not a number): a bad payload gets **422** naming the fields at fault, and
  nothing is saved or published. No input gets a 500 (see :mod:`workshop.webapi`:
  a body over 64 kB is **413**, a body that is not JSON **400**);
* **money is exact**: prices and the total are JSON numbers read as ``Decimal``
  (never a binary float), with at most 2 decimal places (``1.004`` is 422) and
  small enough for the database's ``numeric(12,2)``. Decimal rather than
  integer cents, because the course's clients send ``"price": 12.5``. Amounts
  come back — in ``GET`` and in the events — as strings with two places
  (``"12.50"``), which no JSON parser turns into a float;
* ``Idempotency-Key`` (the usual HTTP header): a client that retries sends the
  same key — the same order again gets the first order back (**200**, same
  id), another order with that key gets **409**. The key is stored with the
  order, in the same transaction;
* ids are ``ORD-<uuid4>`` (the course's ``ORD-<unix time>`` collides within a
  second — and its module never imports ``time``);
* the order row and ``OrderCreated`` are committed together (outbox), then a
  relay publishes over one long-lived channel — no connection per request.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Annotated, Any

from fastapi import FastAPI, Header, HTTPException, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from workshop.events import Schema
from workshop.orders.domain import IdempotencyConflict
from workshop.orders.schemas import MAX_AMOUNT, Money
from workshop.webapi import ValidationProblem, add_healthz, harden, inline_schema, problem, read_json, validate_body

MAX_PRICE = Decimal("99999.99")  # x 1000 (qty) x 100 (items) still fits numeric(12,2)
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$"  # ids are names, not prose: no spaces, no control characters
Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=ID_PATTERN)]


def _json_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ValueError("must be a JSON number, like 12.5")
    return value


def _whole_number(value: Any) -> Any:
    """3, or 3.0 (JSON Schema's integers include it) — not "3", not true, not 3.5."""
    value = _json_number(value)
    if isinstance(value, (float, Decimal)):
        if not (math.isfinite(value) and value == int(value)):
            raise ValueError("must be a whole number")
        return int(value)
    return value


def _amount_schema(maximum: Decimal) -> WithJsonSchema:
    return WithJsonSchema({"type": "number", "exclusiveMinimum": 0, "maximum": float(maximum), "multipleOf": 0.01})


# A money field of the request: a JSON number > 0, at most the maximum, at most 2 decimal places.
Price = Annotated[
    Money, Strict(False), BeforeValidator(_json_number), Field(gt=0, le=MAX_PRICE), _amount_schema(MAX_PRICE)
]
Total = Annotated[
    Money, Strict(False), BeforeValidator(_json_number), Field(gt=0, le=MAX_AMOUNT), _amount_schema(MAX_AMOUNT)
]


class OrderLine(Schema):
    model_config = ConfigDict(strict=True)

    sku: Id
    qty: Annotated[int, BeforeValidator(_whole_number)] = Field(gt=0, le=1000)
    price: Price


class CreateOrderRequest(Schema):
    """An order as a client sends it (no unknown fields, no NUL anywhere: :class:`~workshop.events.Schema`)."""

    model_config = ConfigDict(strict=True)

    user_id: Id
    items: list[OrderLine] = Field(min_length=1, max_length=100)
    total: Total | None = Field(default=None, description="optional; must equal the sum of qty * price")

    @model_validator(mode="after")
    def total_matches_items(self) -> CreateOrderRequest:
        computed = sum((line.qty * line.price for line in self.items), Decimal("0.00"))
        if self.total is not None and self.total != computed:
            raise ValueError(f"total {self.total} does not match the items' sum {computed}")
        return self


class OrderAccepted(BaseModel):
    order_id: str
    status: str = "pending"
    message: str = "Order created and being processed"


class OrderLineView(BaseModel):
    sku: str
    qty: int
    price: Money  # "12.50"


class OrderView(BaseModel):
    order_id: str
    user_id: str
    items: list[OrderLineView]
    total: Money
    status: str


INVALID = {"model": ValidationProblem, "description": "a field is invalid: each problem names it (`loc`)"}
UNAVAILABLE = problem("the database cannot be reached; try again shortly")
LOCATION = {"Location": {"description": "the order's URL", "schema": {"type": "string"}}}


def create_app(orders: Any) -> FastAPI:
    """The API over an :class:`~workshop.orders.order.OrderService` (started or not)."""
    app = harden(FastAPI(title="Order service", version="1.1"), backend="the database")

    @app.exception_handler(IdempotencyConflict)
    async def idempotency_conflict(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, 409)

    @app.post(
        "/orders",
        status_code=201,
        response_model=OrderAccepted,
        responses={
            201: {"description": "the order is accepted; its saga has started", "headers": LOCATION},
            200: {
                "model": OrderAccepted,
                "headers": LOCATION,
                "description": "this Idempotency-Key already placed this order: the same order, nothing new",
            },
            400: problem("the body is not JSON"),
            409: problem("this Idempotency-Key was already used for a different order"),
            413: problem("the body is larger than 64 kB"),
            415: problem("the body is not sent as application/json"),
            422: INVALID,
            503: UNAVAILABLE,
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": inline_schema(CreateOrderRequest)}},
            }
        },
    )
    async def create_order(
        request: Request,
        response: Response,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern=r"^[!-~]+$",
                description="any unique text (e.g. a UUID); a retry sends the same key",
            ),
        ] = None,
    ) -> OrderAccepted:
        order = validate_body(CreateOrderRequest, await read_json(request))
        items = [line.model_dump() for line in order.items]
        order_id, created = await orders.submit(order.user_id, items, order.total, idempotency_key=idempotency_key)
        response.headers["Location"] = f"/orders/{order_id}"
        if created:
            return OrderAccepted(order_id=order_id)
        response.status_code = 200
        return OrderAccepted(order_id=order_id, message="Order already received with this Idempotency-Key")

    @app.get(
        "/orders/{order_id}",
        response_model=OrderView,
        responses={404: problem("no order with this id"), 422: INVALID, 503: UNAVAILABLE},
    )
    async def get_order(order_id: Annotated[str, Path(max_length=64, pattern=ID_PATTERN)]) -> Any:
        order = await orders.get(order_id)
        if order is None:
            raise HTTPException(404, f"no order {order_id}")
        return order

    add_healthz(app, lambda: orders.ping(), what="the database")  # looked up per call: the service may start later
    return app
