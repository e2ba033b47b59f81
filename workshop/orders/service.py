"""What every service of the order system shares: consume → transaction → outbox → ack.

For each delivered event a service, in ONE PostgreSQL transaction:

1. records the event id in its **inbox** (a redelivery stops here: no second effect);
2. runs its ``handle`` — pure domain logic plus its own table writes;
3. writes the events it decided on to the **outbox**.

Then the bus acks the message and the service's :class:`~workshop.orders.outbox.Relay`
publishes the outbox rows with publisher confirms. A crash anywhere leaves
either nothing done (the message is redelivered) or everything done and the
events waiting in the outbox.

Three ways to run a service, one code path: inside a notebook
(:class:`~workshop.orders.system.OrderSystem`), as a process
(``python -m workshop.orders.payment``), or as a compose service.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from typing import Any, ClassVar, Sequence

from workshop.bus.base import Bus, Delivery, RetryPolicy, Subscription
from workshop.events import Event
from workshop.orders import inbox, outbox


class Service:
    """A consumer with a clear handler. Subclasses set ``name``, ``bindings`` and ``handle``."""

    name: ClassVar[str]
    bindings: ClassVar[tuple[str, ...]]

    def __init__(self, pool: Any, bus: Bus, *, prefetch: int = 20, retry: RetryPolicy | None = None,
                 work_delay: float = 0.0) -> None:
        self.pool, self.bus, self.prefetch = pool, bus, prefetch
        self.retry = retry or RetryPolicy(max_attempts=4, initial_delay=0.2)
        self.work_delay = work_delay  # simulated slowness (the course sleeps 2 s in payment)
        self.relay = outbox.Relay(pool, bus, self.name)
        self.duplicates = 0
        self.subscription: Subscription | None = None

    async def handle(self, conn: Any, event: Event) -> list[Event]:
        """Apply ``event`` to this service's tables; return the events to publish."""
        raise NotImplementedError

    async def on_event(self, event: Event, delivery: Delivery) -> None:
        if self.work_delay:
            await asyncio.sleep(self.work_delay)
        async with self.pool.connection() as conn:
            async with conn.transaction():
                if not await inbox.first_time(conn, self.name, event.event_id):
                    self.duplicates += 1
                    return
                events = await self.handle(conn, event)
                await outbox.add(conn, self.name, events)
        if events:
            self.relay.poke()

    async def start(self) -> None:
        self.relay.start()
        self.subscription = await self.bus.subscribe(self.name, self.bindings, self.on_event,
                                                     prefetch=self.prefetch, retry=self.retry)

    async def stop(self) -> None:
        if self.subscription is not None:
            await self.subscription.cancel()
            self.subscription = None
        await self.relay.stop()

    @property
    def stats(self) -> dict[str, int]:
        counts = self.subscription.stats.as_dict() if self.subscription else {}
        return {**counts, "duplicates": self.duplicates, "published": self.relay.published}


# --- running one service as a process --------------------------------------------------------


def run_main(service_cls: type[Service], argv: Sequence[str] | None = None) -> int:
    """``python -m workshop.orders.<name>``: run until SIGTERM/SIGINT."""
    p = argparse.ArgumentParser(prog=f"python -m workshop.orders.{service_cls.name}",
                                description=(service_cls.__doc__ or "").strip().splitlines()[0])
    p.add_argument("--prefetch", type=int, default=20)
    p.add_argument("--work-delay", type=float, default=0.0, help="simulated seconds of work per event")
    if service_cls.name == "order":
        p.add_argument("--port", type=int, default=8000, help="HTTP API port (0: no API)")
        p.add_argument("--host", default="127.0.0.1")
    args = p.parse_args(argv)
    try:
        asyncio.run(_serve(service_cls, args))
    except KeyboardInterrupt:
        pass
    return 0


async def _serve(service_cls: type[Service], args: argparse.Namespace) -> None:
    from workshop.bus.rabbitmq import RabbitBus
    from workshop.config import settings
    from workshop.errors import WorkshopError
    from workshop.orders import db, schemas

    s = settings()
    logging.basicConfig(level=logging.WARNING, format=f"{service_cls.name}: %(levelname)s %(message)s")
    quiet = [logging.getLogger(n) for n in ("aio_pika", "aiormq")]
    for log in quiet:  # the first connect reports its own failure, in one line
        log.setLevel(logging.CRITICAL)
    try:
        pool = await db.open_pool(s)
        bus = await RabbitBus.connect(s, validate=schemas.validate)
    except WorkshopError as exc:  # one line naming the service and the fix
        raise SystemExit(f"{service_cls.name}: {exc}") from None
    for log in quiet:  # from now on: show reconnection attempts if the broker goes away
        log.setLevel(logging.WARNING)
    service = service_cls(pool, bus, prefetch=args.prefetch, work_delay=args.work_delay)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await service.start()
    server_task = None
    if getattr(args, "port", 0):
        import uvicorn

        from workshop.orders.api import create_app

        server = uvicorn.Server(uvicorn.Config(create_app(service), host=args.host, port=args.port,
                                               log_level="warning"))
        server_task = asyncio.create_task(server.serve())
    print(f"{service_cls.name}: consuming {', '.join(service.bindings)} in {s.namespace}", flush=True)
    await stop.wait()
    if server_task:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server_task, 5)
    await service.stop()
    await bus.close()
    await pool.close()
