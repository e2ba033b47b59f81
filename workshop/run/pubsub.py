"""``python -m workshop.run.pubsub publisher|subscriber|consumer``: chapter 2's processes.

    python -m workshop.run.pubsub publisher --interval 5 --wait-subscribers 2   # the course's loop
    python -m workshop.run.pubsub subscriber --name subscriber-1                  # the course's subscriber
    python -m workshop.run.pubsub consumer --group analytics --consumer c1        # a Streams consumer

What compose's ``publisher``, ``subscriber-1`` and ``subscriber-2`` run; each stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
from functools import partial

from workshop.config import settings
from workshop.events import Event
from workshop.process import exit_now, run
from workshop.pubsub.publisher import CHANNELS, Publisher, publish_loop, wait_for_subscribers
from workshop.pubsub.streams import GroupConsumer
from workshop.pubsub.subscriber import Subscriber, print_event


async def publisher(args: argparse.Namespace, stop: asyncio.Event) -> None:
    async with await Publisher.open(settings()) as pub:
        if args.wait_subscribers:
            await wait_for_subscribers(pub, args.channel, args.wait_subscribers, 60.0)
        await publish_loop(pub, args.channel, args.interval, args.count, stop)


async def subscriber(args: argparse.Namespace, stop: asyncio.Event) -> None:
    s = settings()
    channels = args.channels if args.channels is not None else ([] if args.patterns else list(CHANNELS))
    sub = await Subscriber.start(
        s,
        channels=channels,
        patterns=args.patterns,
        handler=print_event(args.name),
        name=args.name,
        log_line=lambda line: print(line, flush=True),
    )
    print(f"{args.name}: subscribed to {', '.join(map(s.namespace.key, channels + args.patterns))}", flush=True)
    try:
        await stop.wait()
    finally:
        await sub.stop()
        print(f"{args.name}: stopped after {sub.stats.received} message(s), {sub.stats.bad} bad", flush=True)


async def consumer(args: argparse.Namespace, stop: asyncio.Event) -> None:
    async def handle(event: Event) -> None:
        await asyncio.sleep(args.work_delay)  # the work; a SIGKILL here leaves the batch pending
        print(f"{args.consumer}: handled {event.event_type} seq={event.data.get('seq')}", flush=True)

    c = await GroupConsumer.open(
        settings(),
        args.stream,
        group=args.group,
        consumer=args.consumer,
        handler=handle,
        batch=args.batch,
        claim_idle_ms=args.claim_idle_ms,
        log_line=lambda line: print(line, flush=True),
    )
    print(f"{args.consumer}: consuming {c.key} as group {args.group}", flush=True)
    c.start()
    try:
        await stop.wait()
    finally:
        await c.close()
        print(f"{args.consumer}: stopped after {c.stats.handled} event(s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m workshop.run.pubsub", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    pub = sub.add_parser("publisher", help="publish the course's user_action events in a loop")
    pub.add_argument("--channel", default="user_events", help="channel name without the namespace")
    pub.add_argument("--interval", type=float, default=5.0, help="seconds between events (the course: 5)")
    pub.add_argument("--count", type=int, default=0, help="stop after this many (0: run until stopped)")
    pub.add_argument(
        "--wait-subscribers",
        type=int,
        default=0,
        metavar="N",
        help="first wait (up to 60 s) until N subscribers listen on the channel",
    )
    one = sub.add_parser("subscriber", help="print every event of the course's channels")
    one.add_argument("--name", default="subscriber")
    one.add_argument("--channel", action="append", dest="channels", help="repeatable; default: the course's two")
    one.add_argument("--pattern", action="append", dest="patterns", default=[], help="glob pattern, repeatable")
    con = sub.add_parser("consumer", help="consume a stream in a consumer group")
    con.add_argument("--stream", default="user_events", help="stream name without the namespace")
    con.add_argument("--group", required=True)
    con.add_argument("--consumer", required=True)
    con.add_argument("--work-delay", type=float, default=0.0, help="seconds of work per event")
    con.add_argument("--batch", type=int, default=10, help="entries per XREADGROUP")
    con.add_argument("--claim-idle-ms", type=int, default=5000, help="reclaim entries pending this long")
    args = p.parse_args(argv)
    if args.what == "publisher":
        if args.interval < 0 or args.count < 0 or args.wait_subscribers < 0:
            pub.error("--interval, --count and --wait-subscribers must not be negative")
        return run("publisher", partial(publisher, args))
    if args.what == "subscriber":
        return run(args.name, partial(subscriber, args))
    if args.work_delay < 0 or args.batch < 1 or args.claim_idle_ms < 0:
        con.error("--work-delay and --claim-idle-ms must not be negative, --batch at least 1")
    return run(args.consumer, partial(consumer, args))


if __name__ == "__main__":
    exit_now(main())
