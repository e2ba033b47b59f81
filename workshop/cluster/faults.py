"""Chapter 1's order system on the cluster, with a node killed or frozen mid-run — counted.

    run = await orders_under_fault(cluster, s, queue_type="quorum", fault="kill", orders=200)
    print(run)   # quorum, kill ws7-…-a (leader of payment: a → b): 200 orders, 200 completed, 0 lost, ...

The node that dies is the one that holds the payment queue (a classic queue's only home, a
quorum queue's leader) — and, as the bus connected there first, the node the services talk
to: the worst case, client and queue lose their node at once.

What is counted, per run:

* **completed / stalled / lost** orders: final (shipped or cancelled) within the deadline, not
  final at the deadline, and still not final after the node came back (``dead_lettered``
  says how many messages the services parked in their dead-letter queues meanwhile);
* **charged twice**: orders with two charges in the payment table (an effect done twice);
* **redelivered**: events a consumer saw a second time (at-least-once; the inboxes absorb them);
* **reordered**: events a tap received after a later step of the same order's saga;
* **inconsistent**: final orders whose money or shipment does not match their status.

:func:`failover_pause` measures what one client feels while its node dies: the publish latency
(p50 / p99 / max) across the kill and the time until the first message flows again.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

from workshop.bus.base import Delivery, RetryPolicy
from workshop.cluster.nodes import Cluster
from workshop.config import Settings
from workshop.events import Event
from workshop.waiting import WaitTimeout, until

# the order of a saga's steps, to tell an event that arrives after a later one
STEP = {
    "OrderCreated": 0,
    "PaymentProcessed": 1,
    "PaymentFailed": 1,
    "InventoryReserved": 2,
    "InventoryShortage": 2,
    "OrderShipped": 3,
    "PaymentRefunded": 3,
    "OrderCancelled": 4,
}


@dataclass
class EventCounter:
    """A tap's counts: every event once (doubles and reorderings counted, not hidden)."""

    seen: set[str] = field(default_factory=set)
    step: dict[str, int] = field(default_factory=dict)
    received: int = 0
    doubled: int = 0
    reordered: int = 0

    def record(self, key: str, event_id: str, step: int | None) -> None:
        self.received += 1
        if event_id in self.seen:
            self.doubled += 1
            return
        self.seen.add(event_id)
        if step is None:
            return
        if step < self.step.get(key, -1):
            self.reordered += 1
        self.step[key] = max(step, self.step.get(key, -1))


@dataclass
class FaultRun:
    """What one run of the order system through one fault left behind."""

    queue_type: str
    fault: str
    victim: str
    leader_before: str
    leader_after: str
    orders: int
    completed: int  # final before the deadline
    stalled: int  # not final at the deadline
    lost: int  # still not final after the node came back
    charged_twice: int
    redelivered: int  # second copies the services' inboxes absorbed
    reordered: int
    inconsistent: int
    seconds: float  # from the first order to the last final one (or the deadline)
    dead_lettered: int = 0  # messages the services parked in their dead-letter queues

    def __str__(self) -> str:
        short = lambda n: n.split("@")[0].rsplit("-", 1)[-1]  # noqa: E731
        return (
            f"{self.queue_type:>7} · {self.fault:<6} node {short(self.victim)} "
            f"(payment's {'leader' if self.queue_type == 'quorum' else 'home'}: "
            f"{short(self.leader_before)} → {short(self.leader_after) or '-'}): {self.orders} orders, "
            f"{self.completed} completed in time, {self.stalled} stalled, {self.lost} lost, "
            f"{self.charged_twice} charged twice, {self.redelivered} redelivered, {self.reordered} reordered, "
            f"{self.inconsistent} inconsistent, {self.dead_lettered} dead-lettered"
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def orders_under_fault(
    cluster: Cluster,
    s: Settings,
    *,
    queue_type: str = "quorum",
    fault: str = "kill",
    orders: int = 200,
    rate: float = 40.0,
    at: float = 0.3,
    freeze_for: float = 15.0,
    deadline: float = 60.0,
    recover: float = 90.0,
) -> FaultRun:
    """Place ``orders`` at ``rate``/s; after ``at`` of them, ``fault`` the payment queue's node.

    ``fault``: ``"kill"`` (SIGKILL; restarted after the deadline if orders stalled, then
    ``recover`` s more), ``"freeze"`` (SIGSTOP for ``freeze_for`` s, then SIGCONT) or ``"none"``.
    Every node runs again when this returns.
    """
    from workshop.bus.rabbitmq import RabbitBus
    from workshop.orders import db, schemas
    from workshop.orders.system import OrderSystem

    if fault not in ("kill", "freeze", "none"):
        raise ValueError(f"fault must be 'kill', 'freeze' or 'none', not {fault!r}")
    bus = await RabbitBus.open(
        s,
        urls=cluster.urls,
        validate=schemas.validate,
        queue_type=queue_type,
        delivery_limit=5 if queue_type == "quorum" else None,
        reconnect_interval=0.5,
    )
    system = OrderSystem(s, bus=bus, prefetch=20)
    counter = EventCounter()

    async def tap(event: Event, delivery: Delivery) -> None:
        counter.record(event.aggregate_id, event.event_id, STEP.get(event.event_type))

    ids: list[str] = []
    try:
        await system.start(stock={"BOOK": 100_000, "MUG": 100_000, "LAMP": 100_000})
        await bus.subscribe("tap", ["#"], tap, prefetch=100, retry=RetryPolicy(max_attempts=1))
        queue = s.namespace.amqp("payment")
        leader_before = await cluster.leader(queue)
        victim = cluster.node(leader_before)
        start = time.monotonic()
        injector: asyncio.Task | None = None
        for i in range(orders):
            if i == int(orders * at) and fault != "none":
                injector = asyncio.create_task(_inject(cluster, victim, fault, freeze_for))
            price = 2000 if i % 7 == 6 else 12.5  # every 7th order is declined: the other saga path
            ids.append(await system.place_order(f"user-{i % 10}", [{"sku": "BOOK", "qty": 1, "price": price}]))
            await asyncio.sleep(1 / rate)
        if injector:
            await injector
        final = await _final_within(system, ids, deadline - (time.monotonic() - start))
        seconds = time.monotonic() - start
        stalled = len(ids) - len(final)
        lost = stalled
        if stalled and not victim.running:  # a classic queue waits for its node: bring it back
            await cluster.restart(victim)
            lost = len(ids) - len(await _final_within(system, ids, recover))
        leader_after = await _leader_or_none(cluster, queue)
        charged_twice = await _count(
            system,
            "SELECT count(*) FROM (SELECT order_id FROM payments WHERE kind = "
            "'charge' AND order_id = ANY(%s) GROUP BY order_id HAVING count(*) > 1) t",
            ids,
        )
        inconsistent = await _inconsistent(system, ids)
        redelivered = sum(svc.duplicates for svc in system.running.values())
        dead = sum(stats.get("dead_lettered", 0) for stats in system.stats().values())
    finally:
        await system.stop()
        for node in cluster.nodes:  # leave the cluster whole for the next experiment
            if node.frozen:
                await cluster.thaw(node)
            if not node.running:
                await cluster.restart(node)
        await db.setup(s)  # nothing to undo in PostgreSQL: the caller resets its namespace
    return FaultRun(
        queue_type,
        fault if fault != "none" else "none",
        victim.name,
        leader_before,
        leader_after,
        len(ids),
        len(ids) - stalled,
        stalled,
        lost,
        charged_twice,
        redelivered + counter.doubled,
        counter.reordered,
        inconsistent,
        round(seconds, 1),
        dead,
    )


async def _inject(cluster: Cluster, node: Any, fault: str, freeze_for: float) -> None:
    if fault == "kill":
        await cluster.kill(node)
    else:
        await cluster.freeze(node)
        await asyncio.sleep(freeze_for)
        await cluster.thaw(node)


async def _final_within(system: Any, ids: list[str], timeout: float) -> dict[str, str]:
    """The orders that are final when everything is, or when ``timeout`` s have passed."""
    final: dict[str, str] = {}

    async def done() -> bool:
        states = await system.statuses(ids)
        final.clear()
        final.update({i: st for i, st in states.items() if st in ("shipped", "cancelled")})
        return len(final) == len(ids)

    try:
        await until(done, timeout=max(timeout, 1.0), every=0.25, what="every order to be final")
    except WaitTimeout:
        pass  # the caller counts the stragglers
    return final


async def _leader_or_none(cluster: Cluster, queue: str) -> str:
    try:
        return await cluster.leader(queue)
    except Exception:  # noqa: BLE001 - a queue whose node is down has no leader to show
        return ""


async def _count(system: Any, sql: str, ids: list[str]) -> int:
    from workshop.orders import db

    return int((await db.fetch(system.pool, sql, (ids,)))[0][0])


async def _inconsistent(system: Any, ids: list[str]) -> int:
    """Final orders whose payments and shipments do not match: shipped = 1 charge, 0 refunds, 1 shipment;
    cancelled = as many refunds as charges, no shipment."""
    return await _count(
        system,
        """
        SELECT count(*) FROM orders o
        LEFT JOIN LATERAL (SELECT count(*) FILTER (WHERE kind = 'charge') AS charges,
                                  count(*) FILTER (WHERE kind = 'refund') AS refunds
                           FROM payments p WHERE p.order_id = o.id) m ON true
        LEFT JOIN LATERAL (SELECT count(*) AS n FROM shipments sh WHERE sh.order_id = o.id) s ON true
        WHERE o.id = ANY(%s) AND NOT (
              (o.status = 'shipped' AND m.charges = 1 AND m.refunds = 0 AND s.n = 1)
           OR (o.status = 'cancelled' AND m.charges = m.refunds AND s.n = 0)
           OR o.status NOT IN ('shipped', 'cancelled'))""",
        ids,
    )


# --- what one client feels ----------------------------------------------------------------------


@dataclass
class Pause:
    """One publisher and one consumer on a quorum queue while the node they use is killed."""

    messages: int
    victim: str
    p50_ms: float  # publish latency until confirmed, over the whole run
    p99_ms: float
    max_ms: float  # the publish that waited longest: the publisher's pause
    flowing_again_s: float  # from the kill to the first delivery of a message published after it
    lost: int  # confirmed but never delivered
    doubled: int
    reordered: int
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    kill_index: int = 0

    def __str__(self) -> str:
        return (
            f"{self.messages} confirmed publishes across the kill of {self.victim.split('@')[0]}: latency p50 "
            f"{self.p50_ms:.1f} ms, p99 {self.p99_ms:.0f} ms, max {self.max_ms:.0f} ms; messages flowed again "
            f"{self.flowing_again_s:.1f} s after the kill; {self.lost} lost, {self.doubled} doubled, "
            f"{self.reordered} reordered"
        )


async def failover_pause(
    cluster: Cluster, s: Settings, *, messages: int = 300, rate: float = 50.0, at: float = 0.3, deadline: float = 60.0
) -> Pause:
    """Publish ``messages`` at ``rate``/s with confirms (retrying until confirmed), kill the node
    the client is connected to after ``at`` of them, and time what the client sees."""
    from workshop.bus.rabbitmq import RabbitBus

    bus = await RabbitBus.open(s, urls=cluster.urls, queue_type="quorum", reconnect_interval=0.2)
    received: dict[int, int] = {}
    order: list[int] = []
    first_after: list[float] = []
    killed_at = 0.0
    kill_index = int(messages * at)

    async def consume(event: Event, delivery: Delivery) -> None:
        i = int(event.data["i"])
        received[i] = received.get(i, 0) + 1
        order.append(i)
        if killed_at and i >= kill_index and not first_after:
            first_after.append(time.monotonic() - killed_at)

    latencies: list[float] = []
    victim = None
    try:
        await bus.subscribe("pause", ["pause.#"], consume, prefetch=50, retry=RetryPolicy(max_attempts=1))
        port = getattr(bus.connection, "node_port", None)  # the node this client talks to: the one to kill
        victim = next(n for n in cluster.nodes if n.amqp_port == port)
        for i in range(messages):
            if i == kill_index:
                await cluster.kill(victim)
                killed_at = time.monotonic()
            begin = time.monotonic()
            event = Event("Ticked", f"tick-{i}", {"i": i})
            await until(
                partial(_try_publish, bus, event),
                timeout=deadline,
                every=0.05,
                what=f"message {i} to be confirmed by a surviving node",
            )
            latencies.append((time.monotonic() - begin) * 1000)
            await asyncio.sleep(max(0.0, 1 / rate - (time.monotonic() - begin)))
        await until(
            lambda: len(received) >= messages,
            timeout=deadline,
            every=0.05,
            what=f"all {messages} messages to be delivered",
            detail=lambda: f"{len(received)} of {messages} delivered",
        )
    except WaitTimeout:
        pass  # counted below as lost
    finally:
        await bus.close()
        if victim is not None and not victim.running:
            await cluster.restart(victim)
    confirmed = len(latencies)
    reordered, high = 0, -1
    for i in order:
        if i < high:
            reordered += 1
        high = max(high, i)
    ordered = sorted(latencies) or [0.0]
    return Pause(
        confirmed,
        victim.name if victim else "?",
        statistics.median(ordered),
        ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        ordered[-1],
        first_after[0] if first_after else float("nan"),
        sum(1 for i in range(confirmed) if i not in received),
        sum(c - 1 for c in received.values()),
        reordered,
        latencies,
        kill_index,
    )


async def _try_publish(bus: Any, event: Event) -> bool:
    """One confirmed publish; False if the connection is switching nodes (the caller tries again)."""
    try:
        await bus.publish("pause.tick", event)
        return True
    except Exception:  # noqa: BLE001 - no confirm: publish again (at least once; duplicates are counted)
        return False
