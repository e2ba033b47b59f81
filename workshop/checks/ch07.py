"""Checks for chapter 7's exercises (solutions/07_cluster.ipynb): partitions and redeliveries.

* 7.1 — ``partition_of(event, partitions)``: every event of one order lands in the same
  partition (so one consumer sees them in order), the answer is a partition that exists, and
  the orders spread over all partitions.
* 7.2 — ``handle_payment(event, inbox, charge)``: after a failover the broker delivers again
  what was not acknowledged; the handler must charge once per event however often it comes,
  must not drop a *new* event of the same order, and must not mark an event done when the
  charge failed (the next delivery has to try again).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workshop.checks import call, check, expect, expect_equal


def _event(order: int, n: int) -> dict[str, Any]:
    return {"event_id": f"evt-{order:03d}-{n}", "order_id": f"ORD-{order:03d}", "type": "ItemAdded", "n": n}


@check("7.1")
def check_partition(partition_of: Callable[[dict, int], Any]) -> str:
    for partitions in (3, 4):
        seen: set[int] = set()
        for order in range(60):
            events = [_event(order, n) for n in range(4)]
            got = [call("7.1", partition_of, e, partitions, hint="return a whole number") for e in events]
            for e, p in zip(events, got):
                expect(
                    "7.1",
                    isinstance(p, int) and not isinstance(p, bool) and 0 <= p < partitions,
                    f"partition_of({e['order_id']!r}'s event, {partitions}) returned {p!r}: with {partitions} "
                    f"partitions the answer is a whole number from 0 to {partitions - 1}",
                )
            again = [call("7.1", partition_of, events[0], partitions) for _ in range(5)]
            expect(
                "7.1",
                all(p == got[0] for p in again),
                f"partition_of(<the same event of {events[0]['order_id']}>, {partitions}) asked 6 times gave "
                f"{sorted(set(again + [got[0]]))}: the same event must always get the same partition — no "
                "randomness, no clock",
            )
            expect(
                "7.1",
                len(set(got)) == 1,
                f"the 4 events of {events[0]['order_id']} went to partitions {sorted(set(got))}: they must meet "
                "one consumer — compute the partition from the order id, not from the event id",
            )
            seen.add(got[0])
        expect(
            "7.1",
            len(seen) == partitions,
            f"60 orders used only partition(s) {sorted(seen)} of {partitions}: the others get no work — "
            "spread the orders, e.g. a hash of the order id modulo the number of partitions",
        )
    return "every order keeps to one partition, and the orders use them all"


class _Gateway:
    """A payment gateway that records charges; it fails once for the event ids in ``fail_once``."""

    def __init__(self, fail_once: set[str]) -> None:
        self.charges: list[tuple[str, str]] = []
        self.fail_once = set(fail_once)

    def charge(self, event: dict) -> None:
        if event["event_id"] in self.fail_once:
            self.fail_once.discard(event["event_id"])
            raise ConnectionError("payment gateway timed out")
        self.charges.append((event["order_id"], event["event_id"]))


@check("7.2")
def check_redelivery(handle_payment: Callable[[dict, set, Callable[[dict], None]], Any]) -> str:
    first, second = _event(1, 0), _event(2, 0)
    later = _event(1, 1)  # a new event of order 1: a second item, charged on its own
    flaky = _event(3, 0)
    gateway = _Gateway(fail_once={flaky["event_id"]})
    inbox: set[str] = set()

    def deliver(event: dict, what: str) -> None:
        call(
            "7.2",
            handle_payment,
            event,
            inbox,
            gateway.charge,
            shown=f"handle_payment(<{what}>, inbox, charge)",
            hint="charge, then remember the event id",
        )

    deliver(first, "order 1's event")
    deliver(second, "order 2's event")
    deliver(first, "order 1's event again (redelivered after a failover)")
    charged = [e for _, e in gateway.charges]
    expect(
        "7.2",
        charged.count(first["event_id"]) == 1,
        f"order 1's event, delivered twice (the broker redelivers after a failover), was charged "
        f"{charged.count(first['event_id'])} times: remember each handled event id in the inbox and skip a repeat",
    )
    deliver(later, "a new event of order 1")
    charged = [e for _, e in gateway.charges]
    expect(
        "7.2",
        later["event_id"] in charged,
        "a new event of order 1 (another event id) was not charged: the inbox holds event ids, not order ids "
        "— a redelivery repeats the event id, a new event has its own",
    )
    try:  # the gateway's error may come through (then the broker delivers the event again), or be handled
        call(
            "7.2",
            handle_payment,
            flaky,
            inbox,
            gateway.charge,
            allow=(ConnectionError,),
            shown="handle_payment(<order 3's event>, inbox, charge) while the gateway times out",
        )
    except ConnectionError:
        pass
    deliver(flaky, "order 3's event, redelivered after the gateway timed out")
    charged = [e for _, e in gateway.charges]
    expect(
        "7.2",
        flaky["event_id"] in charged,
        "order 3's event was never charged: the gateway failed the first time and the redelivery was skipped "
        "— add the event id to the inbox only after the charge succeeded (in one transaction, in chapter 1)",
    )
    expect_equal(
        "7.2",
        len(charged),
        4,
        what="charges for 5 deliveries of 4 events (one failed once)",
        hint="each event id is charged exactly once",
    )
    return "one charge per event, however often the broker delivers it"
