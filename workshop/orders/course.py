"""The course's original order-service code, kept so its problems can be *measured*.

Nothing here is used by the services. Each function reproduces one pattern of
``order-service/app.py`` as written in the course, with only the URL and the
exchange's name and arguments changed (so it runs here, in your namespace, on the
exchange the bus declares — RabbitMQ refuses a second declaration that differs):

* :func:`publish_event` — a new connection, channel and exchange declaration
  for every single event;
* :func:`order_id` — ``ORD-<unix time>``, identical for every order placed in
  the same second;
* :func:`run_create_order` — the course's handler, executed as the course
  module would run it, which raises ``NameError`` (``time`` is never imported).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import aio_pika

from workshop.bus.rabbitmq import events_arguments
from workshop.config import Settings
from workshop.events import Event


async def publish_event(event: Event, s: Settings) -> None:
    """The course's ``publish_event``: connect, open a channel, declare, publish, disconnect."""
    connection = await aio_pika.connect_robust(s.amqp_url, timeout=5)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(s.namespace.amqp("events"), aio_pika.ExchangeType.TOPIC,
                                                  durable=True, arguments=events_arguments(s))
        message = aio_pika.Message(body=event.to_json().encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        await exchange.publish(message, routing_key=f"order.{event.event_type.lower()}")


def order_id(clock: Callable[[], float] = time.time) -> str:
    """The course's id: ``f"ORD-{int(time.time())}"``."""
    return f"ORD-{int(clock())}"


COURSE_HANDLER = '''
async def create_order(request):
    # Generate order ID
    order_id = f"ORD-{int(time.time())}"
    return order_id
'''


async def run_create_order() -> str:
    """Run the course's handler body with the course module's imports (no ``time``); returns the error."""
    import asyncio
    import json

    module_globals: dict[str, Any] = {"asyncio": asyncio, "aio_pika": aio_pika, "json": json}  # what app.py imports
    exec(compile(COURSE_HANDLER, "order-service/app.py", "exec"), module_globals)
    try:
        await module_globals["create_order"](None)
    except NameError as exc:
        return f"NameError: {exc}"
    return "no error"
