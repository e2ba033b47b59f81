"""``python -m workshop.run.cqrs relay|projectors|write-api|read-api``: chapter 4's processes.

    python -m workshop.run.cqrs write-api --port 8000     # commands in (compose: cqrs-write-api)
    python -m workshop.run.cqrs read-api --port 8001      # queries out (compose: cqrs-read-api)
    python -m workshop.run.cqrs relay                     # the store's feed → RabbitMQ (compose: cqrs-relay)
    python -m workshop.run.cqrs projectors --models users,activity,cache   # the read models

Each runs in the namespace of its settings and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
from functools import partial

from workshop import connect, users
from workshop.bus import open_bus
from workshop.config import settings
from workshop.cqrs import read_api, rebuild, write_api
from workshop.cqrs.projectors import PostgresProjector
from workshop.cqrs.readmodels import SignupsByDay
from workshop.cqrs.relay import Relay
from workshop.cqrs.system import default_projectors, open_store
from workshop.process import exit_now, run, serve_http

MODELS = ("users", "activity", "cache", "signups")


async def relay(args: argparse.Namespace, stop: asyncio.Event) -> None:
    s = settings()
    async with await open_store(s) as store, await open_bus("rabbitmq", s, validate=users.validate) as bus:
        forwarding = Relay(store, bus).start()
        print(f"relay: forwarding {store.schema}.events to the bus", flush=True)
        try:
            await stop.wait()
        finally:
            await forwarding.stop()


async def projectors(args: argparse.Namespace, stop: asyncio.Event) -> None:
    s = settings()
    async with await open_store(s) as store:
        redis = await connect.redis(s)
        bus = None if args.no_bus else await open_bus("rabbitmq", s)
        running = []
        try:
            users_table = await rebuild.active(store.pool, store.schema)
            made = dict(
                zip(
                    ("users", "activity", "cache"),
                    default_projectors(store, redis, s.namespace, users_table, batch=args.batch),
                )
            )
            made["signups"] = PostgresProjector(store, SignupsByDay(), batch=args.batch)
            for model in args.models:
                projector = await made[model].setup()
                running.append(await projector.start(bus, poll=0.2))
            print(f"projectors: {', '.join(p.name for p in running)} in {store.schema}", flush=True)
            await stop.wait()
        finally:
            for p in running:
                await p.stop()
            if bus is not None:
                await bus.close()
            await redis.aclose()


async def api(args: argparse.Namespace, stop: asyncio.Event) -> None:
    """Either API: its connections open before the server listens and close after it stopped."""
    side = write_api if args.what == "write-api" else read_api
    opener = write_api.open_handler if args.what == "write-api" else read_api.open_read_side
    target, close = await opener(settings())
    try:
        await serve_http(side.create_app(target), args.host, args.port, stop)
    finally:
        await close()


def models(text: str) -> list[str]:
    chosen = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in MODELS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(MODELS)} (got {text[:40]!r})")
    return chosen


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m workshop.run.cqrs", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    sub.add_parser("relay", help="forward the event store's feed to RabbitMQ")
    proj = sub.add_parser("projectors", help="keep the read models up to date")
    proj.add_argument(
        "--models", type=models, default=["users", "activity", "cache"], help=f"comma-separated: {', '.join(MODELS)}"
    )
    proj.add_argument("--batch", type=int, default=1000)
    proj.add_argument("--no-bus", action="store_true", help="poll the feed only")
    for name, port in (("write-api", 8000), ("read-api", 8001)):
        one = sub.add_parser(name, help=f"the {name.split('-')[0]} side's HTTP API")
        one.add_argument("--host", default="127.0.0.1")
        one.add_argument("--port", type=int, default=port)
    args = p.parse_args(argv)
    entry = {"relay": relay, "projectors": projectors}.get(args.what, api)
    return run(args.what, partial(entry, args))


if __name__ == "__main__":
    exit_now(main())
