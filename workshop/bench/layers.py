"""``workshop bench layers`` — what each layer of chapters 1 and 2 costs per message, in µs.

A message through the bus pays for layers the client library does not have: the
envelope (ids, timestamps), validation against its schema, JSON both ways, and the
bookkeeping of a delivery. Each is timed here on its own, in this process, on the same
``OrderCreated`` event, next to the client library's own per-message work — aio-pika
building its ``Message`` to publish and its ``IncomingMessage`` from a delivery, and for
pub/sub the ``json.loads`` the redis-py baseline does — so the breakdown reads as "what the
course adds, and what the library costs anyway" (chapter 6 plots it with :func:`plot`)::

    workshop bench layers              # the table
    workshop bench layers --json out.json

    from workshop.bench.layers import measure, table
    print(table(measure()))            # chapter 6: where a message's microseconds go

Each layer is timed ``--repeat`` times, the layers in turn, each timing ``--number`` calls;
the table gives the median and the least disturbed (min) µs per call. The
functions are the very ones the bus calls (``RabbitBus.publish`` = validate + encode +
message; ``_on_message`` = decode + validate + ``Delivery``). No broker is involved: what a
round trip costs is ``workshop bench bus``'s.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from workshop.bench._report import parser, save_json


def _per_call_us(fn: Callable[[], Any], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number * 1e6


def _drive(coro: Any) -> None:
    """Run a coroutine that never waits (a handler with nothing to await) without an event loop:
    timing one call through ``asyncio.run`` would time the loop's start, not the layer."""
    try:
        coro.send(None)
    except StopIteration:
        return
    raise RuntimeError("the coroutine waited: it needs an event loop")


def measure(number: int = 2000, repeat: int = 7) -> list[dict[str, Any]]:
    """Rows ``{"side", "layer", "us", "us_min", "what"}``: the µs per message of each layer.

    Each side's last row is the client library's own work per message, the baseline.
    """
    import json
    from types import SimpleNamespace

    import aio_pika
    from aiormq.abc import DeliveredMessage
    from pamqp import commands
    from pamqp.header import ContentHeader

    from workshop.bus.base import Delivery, decode
    from workshop.bus.rabbitmq import RabbitBus
    from workshop.config import Namespace
    from workshop.events import Event, validated
    from workshop.orders import schemas
    from workshop.pubsub.subscriber import Subscriber

    data = {"user_id": "u-1", "items": [{"sku": "BOOK-1", "qty": 2, "price": 12.5}], "total": 25.0}
    event = Event("OrderCreated", "ORD-1", data)
    body = event.to_json().encode()
    validated(event, schemas.validate)  # the sample must be valid: a failing layer would time an exception
    message = RabbitBus._message(None, body, source="bench", event=event)  # type: ignore[arg-type]
    delivered = DeliveredMessage(
        delivery=commands.Basic.Deliver(consumer_tag="bench", delivery_tag=1, routing_key="orders.created"),
        header=ContentHeader(body_size=len(body), properties=message.properties),
        body=body,
        channel=None,  # type: ignore[arg-type]
    )
    subscriber = Subscriber(SimpleNamespace(pubsub=lambda: None), Namespace("ws_bench"), channels=["orders"])
    pushed = {"type": "message", "channel": "ws_bench:orders", "data": body.decode()}

    def dispatch() -> None:
        _drive(subscriber.dispatch(pushed))
        subscriber.received.clear()  # a fixed-size log, but emptied so every call pays the same

    layers: list[tuple[str, str, Callable[[], Any], str]] = [
        ("publish", "envelope", lambda: Event("OrderCreated", "ORD-1", data), "Event(...): id, time, defaults"),
        ("publish", "validation", lambda: validated(event, schemas.validate), "the schema (pydantic)"),
        ("publish", "JSON encode", lambda: event.to_json().encode(), "json.dumps of the envelope"),
        (
            "publish",
            "AMQP properties",
            lambda: RabbitBus._message(None, body, source="bench", event=event),  # type: ignore[arg-type]
            "aio_pika.Message with the CloudEvents properties (the Message included)",
        ),
        ("publish", "aio-pika alone", lambda: aio_pika.Message(body), "the library's own Message (baseline)"),
        (
            "consume",
            "JSON decode + envelope",
            lambda: Event.from_json(body),
            "the envelope parsed and checked: one pydantic pass",
        ),
        (
            "consume",
            "decode + validation",
            lambda: decode(body, schemas.validate),
            "what _on_message calls (the row above included)",
        ),
        (
            "consume",
            "ack bookkeeping",
            lambda: Delivery("orders.created", "bench", 1, False),
            "the Delivery handed to the handler",
        ),
        (
            "consume",
            "aio-pika alone",
            lambda: aio_pika.IncomingMessage(delivered, no_ack=False),
            "the library's own IncomingMessage (baseline)",
        ),
        ("pub/sub", "Subscriber.dispatch", dispatch, "decode, counters, delivery log"),
        ("pub/sub", "json.loads alone", lambda: json.loads(pushed["data"]), "what the redis-py baseline does"),
    ]
    timings: list[list[float]] = [[] for _ in layers]
    for _ in range(repeat):  # in turn, layer after layer, so the machine's noise falls on all of them alike
        for i, (_, _, fn, _) in enumerate(layers):
            timings[i].append(_per_call_us(fn, number))
    return [
        {"side": side, "layer": layer, "us": round(statistics.median(t), 2), "us_min": round(min(t), 2), "what": what}
        for (side, layer, _, what), t in zip(layers, timings)
    ]


def table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of :func:`measure`'s rows (each figure with its unit, µs)."""
    lines = ["| side | layer | per message, median | min | what |", "| --- | --- | ---: | ---: | --- |"]
    lines += [f"| {r['side']} | {r['layer']} | {r['us']:.2f} µs | {r['us_min']:.2f} µs | {r['what']} |" for r in rows]
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], ax: Any = None) -> Any:
    """One horizontal bar per layer (its least disturbed µs), the library's own work in its own colour."""
    import matplotlib.pyplot as plt

    from workshop.viz.style import COLOURS

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.35 * len(rows) + 0.8))
    labels = [f"{r['side']}: {r['layer']}" for r in rows]
    library = [r["layer"].endswith("alone") for r in rows]
    colours = [COLOURS["library"] if x else COLOURS["course"] for x in library]
    ax.barh(labels, [r["us_min"] for r in rows], color=colours)  # the least disturbed timing: on a busy
    ax.invert_yaxis()  # machine the median measures the neighbours as much as the layer
    ax.set_xlabel("µs per message, least disturbed timing (the library's own work: light bars)")
    ax.figure.tight_layout()
    return ax


def main(argv: list[str]) -> int:
    p = parser("layers", __doc__)
    p.add_argument("--quick", action="store_true", help="fewer calls per timing")
    p.add_argument("--number", type=int, default=2000, help="calls per timing (default 2,000)")
    p.add_argument("--repeat", type=int, default=7, help="timings per layer, median taken (default 7)")
    args = p.parse_args(argv)
    number = 200 if args.quick else args.number
    rows = measure(number, args.repeat)
    print(table(rows))
    save_json(args.json, {"benchmark": "layers", "number": number, "repeat": args.repeat, "results": rows})
    return 0
