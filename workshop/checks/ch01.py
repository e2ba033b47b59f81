"""Checks for chapter 1 (solutions/01_event_driven.ipynb): the order saga's best practices.

* 1.1 ``reserve(stock, payment)`` — inventory reserves all items or none, and a
  shortage carries what payment needs to refund (the compensation);
* 1.2 ``idempotent(handler, seen)`` — a redelivered event has no second effect, not even
  when the duplicate arrives while the first is still running (handlers run concurrently),
  and a failed attempt is not remembered as done;
* 1.3 ``next_step(attempt, error, policy)`` — the retry policy: backoff, then the DLQ.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from workshop.bus.base import Delivery, Reject, RetryPolicy
from workshop.checks import Hint, acall, call, check, expect, expect_equal, expect_isinstance, fail
from workshop.events import Event, EventFormatError, SchemaError
from workshop.orders import domain


def _payment(items: list[dict], order_id: str = "ORD-check") -> Event:
    total = round(sum(i["qty"] * i["price"] for i in items), 2)
    return domain.charge(domain.place_order(order_id, "alice", items, total))


_ITEMS_HINT = "payment.data['items'] is a list of {'sku', 'qty', 'price'} dicts; stock maps sku → units"


def _reserve(
    reserve: Callable[[dict, Event], tuple[dict, Event]], stock: dict, payment: Event, hint: Hint = _ITEMS_HINT
) -> tuple[dict, Event]:
    result = call(
        "1.1", reserve, stock, payment, hint=hint, shown=f"reserve({stock}, the payment for {_basket(payment)})"
    )
    expect(
        "1.1",
        isinstance(result, tuple) and len(result) == 2,
        f"reserve() should return a pair (new_levels, event), got {result!r}",
    )
    return result


def _basket(payment: Event) -> str:
    return " + ".join(f"{i['qty']} {i['sku']}" for i in payment.data["items"])


def _reserve_crash(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str) and exc.args[0].isupper():
        return f"a sku that is not in `stock` ({exc.args[0]}) has 0 units: stock.get(sku, 0)"
    return _ITEMS_HINT


@check("1.1")
def check_reserve(reserve: Callable[[dict, Event], tuple[dict, Event]]) -> str:
    items = [{"sku": "BOOK", "qty": 2, "price": 10.0}, {"sku": "MUG", "qty": 1, "price": 5.0}]
    payment = _payment(items)
    stock = {"BOOK": 5, "MUG": 1, "LAMP": 7}
    before = dict(stock)
    levels, event = _reserve(reserve, stock, payment)
    expect_isinstance("1.1", event, Event, what="the event", hint="Build it with schemas.make(...).")
    expect_equal(
        "1.1",
        event.event_type,
        "InventoryReserved",
        what="the event type for 2 BOOK + 1 MUG with BOOK: 5, MUG: 1 in stock",
        hint="Exactly enough is enough: one MUG wanted, one in stock (short means stock < qty, not <=).",
    )
    expect_equal(
        "1.1",
        levels,
        {"BOOK": 3, "MUG": 0},
        what="the new stock levels",
        hint="Return the new level of every sku the order touched (and only those).",
    )
    expect_equal(
        "1.1",
        stock,
        before,
        what="the stock dict after the call",
        hint="Do not change `stock` in place: return the new levels; the service writes them.",
    )
    expect_equal(
        "1.1",
        event.causation_id,
        payment.event_id,
        what="the event's causation_id",
        hint="Pass cause=payment so the event joins the order's conversation.",
    )

    levels, event = _reserve(
        reserve,
        {"BOOK": 5, "MUG": 0},
        payment,
        hint="a shortage returns ({}, an InventoryShortage event) — build it with schemas.make",
    )
    expect_equal("1.1", event.event_type, "InventoryShortage", what="the event type when MUG is out of stock")
    expect_equal(
        "1.1",
        levels,
        {},
        what="the stock changes on a shortage",
        hint="All or nothing: when one item is short, reserve none (BOOK stays at 5).",
    )
    expect_equal(
        "1.1",
        event.data.get("missing"),
        {"MUG": 1},
        what="data['missing']",
        hint="missing maps each short sku to how many are missing.",
    )
    expect_equal(
        "1.1",
        (event.data.get("payment_id"), event.data.get("amount")),
        (payment.data["payment_id"], payment.data["amount"]),
        what="(payment_id, amount) in the shortage",
        hint="The shortage must carry what the payment service needs to refund — the compensation.",
    )

    three = _payment([{"sku": "LAMP", "qty": 3, "price": 40.0}], "ORD-3")
    levels, event = _reserve(reserve, {"LAMP": 1}, three)
    expect_equal(
        "1.1",
        event.data.get("missing"),
        {"LAMP": 2},
        what="data['missing'] for 3 LAMP with 1 in stock",
        hint="missing is how many are short (wanted - in stock), not how many were wanted.",
    )

    unknown = _payment([{"sku": "BOOK", "qty": 1, "price": 10.0}, {"sku": "GLOBE", "qty": 1, "price": 30.0}], "ORD-5")
    levels, event = _reserve(reserve, {"BOOK": 4}, unknown, hint=_reserve_crash)
    expect_equal(
        "1.1",
        (event.event_type, event.data.get("missing")),
        ("InventoryShortage", {"GLOBE": 1}),
        what="(event type, missing) for a GLOBE that `stock` has never heard of",
        hint="A sku that is not in `stock` has 0 units: it is missing, all of it.",
    )

    twice = _payment([{"sku": "BOOK", "qty": 2, "price": 1.0}, {"sku": "BOOK", "qty": 2, "price": 1.0}], "ORD-2")
    levels, event = _reserve(reserve, {"BOOK": 3}, twice, hint="the same sku can appear twice in one order")
    expect_equal(
        "1.1",
        event.event_type,
        "InventoryShortage",
        what="the event for 2 + 2 books with 3 in stock",
        hint="The same sku can appear twice: add the quantities up before comparing.",
    )
    levels, event = _reserve(reserve, {"BOOK": 5}, twice, hint="the same sku can appear twice in one order")
    expect_equal(
        "1.1",
        levels,
        {"BOOK": 1},
        what="the new levels for 2 + 2 books with 5 in stock",
        hint="Both lines take from the same shelf: 5 - 2 - 2 = 1 (add the quantities up per sku).",
    )
    return "all or nothing, and a shortage carries the refund"


def _event_id_crash(exc: BaseException) -> str:
    if isinstance(exc, AttributeError) and "seen" not in str(exc) and "'set'" in str(exc):
        return "`seen` is a set: seen.add(event_id), `in` to test it"
    return (
        "the handler gets (event, delivery); event.event_id names the event, "
        "and `await handler(event, delivery)` runs the real work"
    )


@check("1.2")
async def check_idempotent(idempotent: Callable[..., Any]) -> str:
    effects: list[str] = []
    fail_next = {"on": False}
    gate = {"slow": False}

    async def charge(event: Event, delivery: Delivery) -> None:
        if gate["slow"]:
            await asyncio.sleep(0.01)  # a real charge awaits the payment provider: others run meanwhile
        if fail_next["on"]:
            fail_next["on"] = False
            raise ConnectionError("payment gateway timeout")
        effects.append(event.aggregate_id)

    seen: set[str] = set()
    handler = call("1.2", idempotent, charge, seen, shown="idempotent(charge, seen=set())")
    expect(
        "1.2",
        callable(handler) and inspect.iscoroutinefunction(handler),
        "idempotent() should return an `async def` handler(event, delivery)",
    )
    first, second = Event("OrderCreated", "ORD-1", {}), Event("OrderCreated", "ORD-2", {})
    d = Delivery("order.ordercreated")

    async def deliver(event: Event, delivery: Delivery, allow: tuple[type[BaseException], ...] = ()) -> None:
        again = " again" if delivery.redelivered else ""
        await acall(
            "1.2",
            handler,
            event,
            delivery,
            allow=allow,
            hint=_event_id_crash,
            shown=f"your handler({event.event_type} for {event.aggregate_id}{again}, delivery)",
        )

    await deliver(first, d)
    await deliver(first, Delivery("order.ordercreated", redelivered=True))
    expect_equal(
        "1.2",
        effects,
        ["ORD-1"],
        what="the charges after delivering the same event twice",
        hint="Remember event.event_id in `seen` and skip events you have already handled.",
    )
    expect(
        "1.2",
        bool(seen),
        "after handling ORD-1's event, `seen` is still empty: your handler ignored its `seen` argument "
        "— remember event.event_id in the set you were given (the service keeps it across restarts).",
    )
    await deliver(second, d)
    later_event_same_order = Event("InventoryShortage", "ORD-1", {})  # a new event about the same order
    await deliver(later_event_same_order, d)
    expect_equal(
        "1.2",
        effects,
        ["ORD-1", "ORD-2", "ORD-1"],
        what="the effects of three different events",
        hint="Recognise duplicates by event.event_id, not by the order: one order has many events.",
    )
    before_restart = Event("OrderCreated", "ORD-3", {})
    seen.add(before_restart.event_id)  # handled before the service restarted
    await deliver(before_restart, Delivery("order.ordercreated", redelivered=True))
    expect(
        "1.2",
        effects[-1:] != ["ORD-3"],
        "an event whose id was already in `seen` when it arrived (handled before a restart) was charged "
        "again: test `event.event_id in seen`, the set you were given, not a set of your own.",
    )

    retry = Event("OrderCreated", "ORD-4", {})
    fail_next["on"] = True
    try:
        await deliver(retry, d, allow=(ConnectionError,))
    except ConnectionError:
        pass
    else:
        expect("1.2", False, "when the handler raises, the error must reach the bus (so it retries): re-raise it")
    await deliver(retry, Delivery("order.ordercreated", attempt=2))
    expect_equal(
        "1.2",
        effects[-1:],
        ["ORD-4"],
        what="the last charge after a failed first attempt and a retry",
        hint="Add the event_id to `seen` only AFTER the handler succeeded, and forget an in-flight mark "
        "when it fails (try/finally) — otherwise the retry is skipped and the order is never charged.",
    )

    racing = Event("OrderCreated", "ORD-6", {})
    gate["slow"] = True  # the bus runs `prefetch` handlers at once: the duplicate arrives mid-charge
    await asyncio.gather(deliver(racing, d), deliver(racing, Delivery("order.ordercreated", redelivered=True)))
    expect_equal(
        "1.2",
        effects.count("ORD-6"),
        1,
        what="the charges for one event delivered twice at the same time (the charge awaits the provider)",
        hint="Both deliveries passed `event_id in seen` before either had finished: mark the id as in "
        "flight before the first `await` (a set of ids in flight, cleared in `finally`) and skip it "
        "while it is.",
    )
    return "duplicates are skipped (also while the first is still running), failures are retried"


@check("1.3")
def check_next_step(next_step: Callable[[int, BaseException, RetryPolicy], tuple[str, Any]]) -> str:
    policy = RetryPolicy(max_attempts=4, initial_delay=0.1, factor=2.0, max_delay=0.3)
    boom = RuntimeError("database timeout")

    def step(attempt: int, error: BaseException, p: RetryPolicy = policy, name: str = "policy") -> Any:
        return call(
            "1.3",
            next_step,
            attempt,
            error,
            p,
            shown=f"next_step({attempt}, {error!r}, {name})",
            hint="policy has max_attempts, initial_delay, factor and max_delay",
        )

    got = [step(a, boom) for a in (1, 2, 3)]
    expect(
        "1.3",
        all(isinstance(g, tuple) and len(g) == 2 for g in got),
        f"next_step() should return a pair like ('retry', 0.1) or ('dead-letter', 'failed'), got {got[0]!r}",
    )
    expect_equal(
        "1.3",
        [g[0] for g in got],
        ["retry"] * 3,
        what="the steps after failed attempts 1, 2, 3 of 4",
        hint="attempt counts from 1; dead-letter only once attempt has reached max_attempts.",
    )
    expect(
        "1.3",
        all(isinstance(g[1], (int, float)) and not isinstance(g[1], bool) for g in got),
        f"the delay should be a number of seconds, got {got[0][1]!r} for attempt 1",
    )
    delays = [round(g[1], 6) for g in got]
    if delays != [0.1, 0.2, 0.3]:
        cause = (
            "the exponent is one too high: attempt 1 waits initial_delay, so factor ** (attempt - 1)"
            if delays[:2] == [0.2, 0.3]
            else "the delay must not grow past max_delay: min(max_delay, …)"
            if delays[:2] == [0.1, 0.2]
            else "initial_delay * factor ** (attempt - 1), capped at max_delay"
        )
        fail("1.3", f"expected the delays after attempts 1, 2, 3 to be [0.1, 0.2, 0.3], got {delays}: {cause}.")
    expect_equal(
        "1.3",
        step(4, boom),
        ("dead-letter", "failed"),
        what="the step after the last attempt (4 of 4)",
        hint="After max_attempts tries, stop retrying: dead-letter with reason 'failed'.",
    )
    expect_equal(
        "1.3",
        step(5, boom),
        ("dead-letter", "failed"),
        what="the step after attempt 5 of 4",
        hint="Compare with >=, not ==: an attempt past max_attempts must never be retried.",
    )
    expect_equal(
        "1.3",
        step(1, EventFormatError("not valid JSON")),
        ("dead-letter", "malformed"),
        what="the step for a message that is not an event",
        hint="Retrying cannot fix a broken message: dead-letter it at once as 'malformed'.",
    )
    expect_equal(
        "1.3",
        step(1, SchemaError("total: not a number")),
        ("dead-letter", "invalid"),
        what="the step for an event that fails its schema",
        hint="SchemaError → 'invalid', at once; it is a kind of EventFormatError, so test it first.",
    )
    expect_equal(
        "1.3",
        step(2, Reject("unknown customer")),
        ("dead-letter", "rejected"),
        what="the step for Reject",
        hint="Reject means: permanent, dead-letter now as 'rejected'.",
    )
    other = RetryPolicy(max_attempts=2, initial_delay=1.5, factor=3.0, max_delay=60.0)
    shown = "RetryPolicy(max_attempts=2, initial_delay=1.5, factor=3.0, max_delay=60.0)"
    expect_equal(
        "1.3",
        [step(1, boom, other, shown), step(2, boom, other, shown)],
        [("retry", 1.5), ("dead-letter", "failed")],
        what=f"the steps 1 and 2 with {shown}",
        hint="your function ignored its `policy` argument: read max_attempts, initial_delay, factor and "
        "max_delay from it instead of writing the numbers in.",
    )
    return "bounded retries with backoff, then the dead-letter queue"
