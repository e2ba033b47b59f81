"""``python -m workshop.run.orders <service>``: one of chapter 1's five services as a process.

    python -m workshop.run.orders payment --prefetch 20
    python -m workshop.run.orders order --port 8000          # the order service and its HTTP API
    python -m workshop.run.orders crash-demo outbox 5 3      # the notebook's crash demo child

Runs until SIGTERM/SIGINT (compose's stop, Ctrl-C); in-flight handlers finish first.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from functools import partial

from workshop.config import settings
from workshop.orders import crashdemo, db, schemas
from workshop.orders.system import SERVICES
from workshop.process import exit_now, run, serve_http


async def serve(args: argparse.Namespace, stop: asyncio.Event) -> None:
    from workshop.bus.rabbitmq import RabbitBus
    from workshop.orders.api import create_app

    s = settings()
    quiet = [logging.getLogger(n) for n in ("aio_pika", "aiormq")]
    for log in quiet:  # the first connect reports its own failure, in one line
        log.setLevel(logging.CRITICAL)
    async with await db.open_pool(s) as pool, await RabbitBus.open(s, validate=schemas.validate) as bus:
        for log in quiet:  # from now on: show reconnection attempts if the broker goes away
            log.setLevel(logging.WARNING)
        async with SERVICES[args.service](pool, bus, prefetch=args.prefetch, work_delay=args.work_delay) as service:
            print(f"{args.service}: consuming {', '.join(service.bindings)} in {s.namespace}", flush=True)
            if getattr(args, "port", 0):
                await serve_http(create_app(service), args.host, args.port, stop)
            else:
                await stop.wait()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m workshop.run.orders", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="service", required=True)
    for name, cls in SERVICES.items():
        one = sub.add_parser(name, help=(cls.__doc__ or "").strip().splitlines()[0])
        one.add_argument("--prefetch", type=int, default=20)
        one.add_argument("--work-delay", type=float, default=0.0, help="simulated seconds of work per event")
        if name == "order":
            one.add_argument("--port", type=int, default=8000, help="HTTP API port (0: no API)")
            one.add_argument("--host", default="127.0.0.1")
    demo = sub.add_parser("crash-demo", help="place orders, then SIGKILL itself after order CRASH_AT's commit")
    demo.add_argument("mode", choices=crashdemo.MODES)
    demo.add_argument("orders", type=int)
    demo.add_argument("crash_at", type=int)
    args = p.parse_args(argv)
    if args.service == "crash-demo":
        return run("crash-demo", lambda stop: crashdemo.child(args.mode, args.orders, args.crash_at))
    return run(args.service, partial(serve, args))


if __name__ == "__main__":
    exit_now(main())
