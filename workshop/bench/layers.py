"""``workshop bench layers`` — what each layer of chapter 1's bus costs per message, in µs.

A message through the bus pays for layers the client library does not have: the
envelope (ids, timestamps), validation against its schema, JSON both ways, and the
bookkeeping of a delivery. Each is timed here on its own, in this process, on the same
``OrderCreated`` event, next to aio-pika's own per-message work (building its ``Message``),
so the breakdown reads as "what the course adds, and what the library costs anyway"::

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


def measure(number: int = 2000, repeat: int = 7) -> list[dict[str, Any]]:
    """Rows ``{"side", "layer", "us", "what"}``: the µs per message of each layer."""
    import aio_pika

    from workshop.bus.base import Delivery, decode
    from workshop.bus.rabbitmq import RabbitBus
    from workshop.events import Event, validated
    from workshop.orders import schemas

    data = {"user_id": "u-1", "items": [{"sku": "BOOK-1", "qty": 2, "price": 12.5}], "total": 25.0}
    event = Event("OrderCreated", "ORD-1", data)
    body = event.to_json().encode()
    validated(event, schemas.validate)  # the sample must be valid: a failing layer would time an exception

    layers: list[tuple[str, str, Callable[[], Any], str]] = [
        ("publish", "envelope", lambda: Event("OrderCreated", "ORD-1", data), "Event(...): id, time, defaults"),
        ("publish", "validation", lambda: validated(event, schemas.validate), "the schema (pydantic)"),
        ("publish", "JSON encode", lambda: event.to_json().encode(), "json.dumps of the envelope"),
        (
            "publish",
            "AMQP properties",
            lambda: RabbitBus._message(None, body, source="bench", event=event),  # type: ignore[arg-type]
            "aio_pika.Message with the CloudEvents properties",
        ),
        ("publish", "aio-pika alone", lambda: aio_pika.Message(body), "the library's own Message (baseline)"),
        ("consume", "JSON decode + envelope", lambda: Event.from_json(body), "json.loads, Event(...)"),
        ("consume", "decode + validation", lambda: decode(body, schemas.validate), "what _on_message calls"),
        (
            "consume",
            "ack bookkeeping",
            lambda: Delivery("orders.created", "bench", 1, False),
            "the Delivery handed to the handler",
        ),
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
    """A Markdown table of :func:`measure`'s rows."""
    lines = ["| side | layer | µs per message, median | min | what |", "| --- | --- | ---: | ---: | --- |"]
    lines += [f"| {r['side']} | {r['layer']} | {r['us']:.2f} | {r['us_min']:.2f} | {r['what']} |" for r in rows]
    return "\n".join(lines)


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
