"""The course's HTTP API for the order service, with FastAPI: ``POST /orders``, ``GET /orders/{id}``.

Differences from the course's ``order-service/app.py``, each on purpose:

* the request is validated field by field (a positive quantity, a non-empty
  item list, a total that matches the items): a bad payload gets **422** with
  the fields at fault, and nothing is saved or published;
* ids are ``ORD-<uuid4>`` (the course's ``ORD-<unix time>`` collides within a
  second — and its module never imports ``time``);
* the order row and ``OrderCreated`` are committed together (outbox), then a
  relay publishes over one long-lived channel — no connection per request.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict, Field, model_validator

from workshop.orders.schemas import Item


class CreateOrderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1, max_length=64)
    items: list[Item] = Field(min_length=1, max_length=100)
    total: float | None = Field(default=None, gt=0, description="optional; must equal the items' sum")

    @model_validator(mode="after")
    def total_matches_items(self) -> "CreateOrderRequest":
        computed = round(sum(i.qty * i.price for i in self.items), 2)
        if self.total is not None and abs(self.total - computed) > 0.005:
            raise ValueError(f"total {self.total} does not match the items' sum {computed}")
        if computed <= 0:
            raise ValueError("the order's total must be positive")
        return self


class OrderAccepted(BaseModel):
    order_id: str
    status: str = "pending"
    message: str = "Order created and being processed"


def create_app(orders: Any) -> FastAPI:
    """The API over an :class:`~workshop.orders.order.OrderService` (started or not)."""
    app = FastAPI(title="Order service", version="1.0")

    @app.post("/orders", status_code=201, response_model=OrderAccepted)
    async def create_order(request: CreateOrderRequest) -> OrderAccepted:
        items = [i.model_dump() for i in request.items]
        order_id = await orders.place(request.user_id, items, request.total)
        return OrderAccepted(order_id=order_id)

    @app.get("/orders/{order_id}")
    async def get_order(order_id: str) -> dict:
        order = await orders.get(order_id)
        if order is None:
            raise HTTPException(404, f"no order {order_id}")
        return order

    return app
