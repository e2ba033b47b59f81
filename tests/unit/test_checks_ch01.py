"""Chapter 1's checks: pass on the solution, 'not done' on the stub, a hint on plausible wrong answers."""

from __future__ import annotations

import asyncio

import pytest

from workshop.bus.base import Reject, RetryPolicy
from workshop.checks import ExerciseFailed, ExerciseNotDone, ch01
from workshop.events import EventFormatError, SchemaError
from workshop.orders import domain, schemas

# --- 1.1 -----------------------------------------------------------------------------------


def reserve_solution(stock, payment):
    return domain.reserve(stock, payment)


def reserve_stub(stock, payment):
    raise NotImplementedError("Exercise 1.1: Reserve stock, or compensate")


def reserve_partial(stock, payment):
    """Wrong: reserves what it can, item by item (no all-or-nothing)."""
    levels, missing = {}, {}
    for item in payment.data["items"]:
        have = stock.get(item["sku"], 0)
        if have >= item["qty"]:
            levels[item["sku"]] = have - item["qty"]
        else:
            missing[item["sku"]] = item["qty"] - have
    if missing:
        return levels, schemas.make(
            "InventoryShortage",
            payment.aggregate_id,
            {"missing": missing, "payment_id": payment.data["payment_id"], "amount": payment.data["amount"]},
            cause=payment,
        )
    return levels, schemas.make(
        "InventoryReserved", payment.aggregate_id, {"items": payment.data["items"]}, cause=payment
    )


def reserve_in_place(stock, payment):
    """Wrong: edits the caller's dict."""
    levels, event = domain.reserve(stock, payment)
    stock.update(levels)
    return levels, event


def test_reserve_check_passes_on_the_solution(capsys):
    ch01.check_reserve(reserve_solution)
    assert "✅ Exercise 1.1 passed" in capsys.readouterr().out


def test_reserve_check_says_not_done_on_the_stub():
    with pytest.raises(ExerciseNotDone, match="Exercise 1.1 is not done yet"):
        ch01.check_reserve(reserve_stub)


def reserve_strict(stock, payment):
    """Wrong: `<=` — exactly enough counts as short."""
    wanted = {}
    for item in payment.data["items"]:
        wanted[item["sku"]] = wanted.get(item["sku"], 0) + item["qty"]
    if any(stock.get(sku, 0) <= qty for sku, qty in wanted.items()):
        return {}, domain.reserve({sku: 0 for sku in wanted}, payment)[1]
    return domain.reserve(stock, payment)


def reserve_missing_wanted(stock, payment):
    """Wrong: reports how many were wanted as missing, not how many are short."""
    levels, event = domain.reserve(stock, payment)
    if event.event_type == "InventoryShortage":
        wanted = {i["sku"]: i["qty"] for i in payment.data["items"]}
        event = event.replace(data={**event.data, "missing": {s: wanted[s] for s in event.data["missing"]}})
    return levels, event


def reserve_unknown_sku(stock, payment):
    """Crash: a sku missing from `stock` raises KeyError."""
    for item in payment.data["items"]:
        stock[item["sku"]]
    return domain.reserve(stock, payment)


def reserve_last_line_wins(stock, payment):
    """Wrong: the same sku twice: the second line overwrites the first."""
    wanted = {i["sku"]: i["qty"] for i in payment.data["items"]}
    missing = {s: q - stock.get(s, 0) for s, q in wanted.items() if stock.get(s, 0) < q}
    if missing:
        data = {"missing": missing, "payment_id": payment.data["payment_id"], "amount": payment.data["amount"]}
        return {}, schemas.make("InventoryShortage", payment.aggregate_id, data, cause=payment)
    return {s: stock[s] - q for s, q in wanted.items()}, domain.reserve(stock, payment)[1]


def reserve_without_cause(stock, payment):
    """Wrong: the event is built without cause=payment."""
    levels, event = domain.reserve(stock, payment)
    return levels, schemas.make(event.event_type, event.aggregate_id, event.data)


@pytest.mark.parametrize(
    "wrong,hint",
    [
        (reserve_partial, "All or nothing"),
        (reserve_in_place, "in place"),
        (reserve_without_cause, "cause=payment"),
        (reserve_strict, "Exactly enough is enough"),
        (reserve_missing_wanted, "how many are short"),
        (reserve_unknown_sku, r"a sku that is not in `stock` \(GLOBE\) has 0 units"),
        (reserve_last_line_wins, "add the quantities up"),
    ],
)
def test_reserve_check_catches_wrong_answers(wrong, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        ch01.check_reserve(wrong)


# --- 1.2 -----------------------------------------------------------------------------------


def idempotent_solution(handler, seen):
    in_flight = set()

    async def once(event, delivery):
        if event.event_id in seen or event.event_id in in_flight:
            return
        in_flight.add(event.event_id)
        try:
            await handler(event, delivery)
            seen.add(event.event_id)
        finally:
            in_flight.discard(event.event_id)

    return once


def idempotent_with_a_lock_per_event(handler, seen):
    """Also right: the duplicate waits for the first delivery, then finds the id in `seen`."""
    locks = {}

    async def once(event, delivery):
        async with locks.setdefault(event.event_id, asyncio.Lock()):
            if event.event_id in seen:
                return
            await handler(event, delivery)
            seen.add(event.event_id)

    return once


def idempotent_stub(handler, seen):
    raise NotImplementedError("Exercise 1.2: Make a handler idempotent")


def idempotent_mark_first(handler, seen):
    """Wrong: marks the event as done before the work, so a failed attempt is never retried."""

    async def once(event, delivery):
        if event.event_id in seen:
            return
        seen.add(event.event_id)
        await handler(event, delivery)

    return once


def idempotent_by_order(handler, seen):
    """Wrong: one effect per order instead of per event."""

    async def once(event, delivery):
        if event.aggregate_id in seen:
            return
        await handler(event, delivery)
        seen.add(event.aggregate_id)

    return once


def idempotent_racy(handler, seen):
    """Wrong: two deliveries of one event both pass "seen?" while the first still awaits the charge."""

    async def once(event, delivery):
        if event.event_id in seen:
            return
        await handler(event, delivery)
        seen.add(event.event_id)

    return once


def idempotent_own_set(handler, seen):
    """Wrong: ignores the `seen` it was given (a restart forgets everything)."""
    mine = set()

    async def once(event, delivery):
        if event.event_id in mine:
            return
        mine.add(event.event_id)
        try:
            await handler(event, delivery)
        except Exception:
            mine.discard(event.event_id)
            raise

    return once


def idempotent_in_flight_never_cleared(handler, seen):
    """Wrong: an attempt that failed stays "in flight" forever, so its retry is skipped."""
    in_flight = set()

    async def once(event, delivery):
        if event.event_id in seen or event.event_id in in_flight:
            return
        in_flight.add(event.event_id)
        await handler(event, delivery)
        seen.add(event.event_id)
        in_flight.discard(event.event_id)

    return once


def idempotent_swallows(handler, seen):
    """Wrong: catches the failure, so the bus acknowledges a charge that never happened."""

    async def once(event, delivery):
        if event.event_id in seen:
            return
        try:
            await handler(event, delivery)
            seen.add(event.event_id)
        except Exception:
            pass

    return once


def idempotent_plain(handler, seen):
    """Wrong: returns a plain function (the bus awaits handlers)."""

    def once(event, delivery):
        seen.add(event.event_id)

    return once


@pytest.mark.parametrize("right", [idempotent_solution, idempotent_with_a_lock_per_event])
async def test_idempotent_check_passes_on_the_solution(right, capsys):
    await ch01.check_idempotent(right)
    assert "✅ Exercise 1.2 passed" in capsys.readouterr().out


async def test_idempotent_check_says_not_done_on_the_stub():
    with pytest.raises(ExerciseNotDone, match="1.2"):
        await ch01.check_idempotent(idempotent_stub)


@pytest.mark.parametrize(
    "wrong,hint",
    [
        (idempotent_mark_first, "AFTER the handler succeeded"),
        (idempotent_by_order, "not by the order"),
        (idempotent_racy, r"delivered twice at the same time .* in flight before the first `await`"),
        (idempotent_own_set, "ignored its `seen` argument"),
        (idempotent_in_flight_never_cleared, "forget an in-flight mark when it fails"),
        (idempotent_swallows, "must reach the bus"),
        (idempotent_plain, "should return an `async def` handler"),
    ],
)
async def test_idempotent_check_catches_wrong_answers(wrong, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        await ch01.check_idempotent(wrong)


# --- 1.3 -----------------------------------------------------------------------------------


def next_step_solution(attempt, error, policy):
    return policy.next_step(attempt, error)


def next_step_stub(attempt, error, policy):
    raise NotImplementedError("Exercise 1.3: Retry, then dead-letter")


def next_step_retries_everything(attempt, error, policy):
    """Wrong: retries broken messages too."""
    if attempt >= policy.max_attempts:
        return ("dead-letter", "failed")
    return ("retry", min(policy.max_delay, policy.initial_delay * policy.factor ** (attempt - 1)))


def next_step_off_by_one(attempt, error, policy):
    """Wrong: one attempt too many."""
    if isinstance(error, SchemaError):
        return ("dead-letter", "invalid")
    if isinstance(error, EventFormatError):
        return ("dead-letter", "malformed")
    if isinstance(error, Reject):
        return ("dead-letter", "rejected")
    if attempt > policy.max_attempts:
        return ("dead-letter", "failed")
    return ("retry", min(policy.max_delay, policy.initial_delay * policy.factor ** (attempt - 1)))


def next_step_no_cap(attempt, error, policy):
    """Wrong: the delay grows without limit."""
    step, arg = policy.next_step(attempt, error)
    return (step, policy.initial_delay * policy.factor ** (attempt - 1)) if step == "retry" else (step, arg)


def test_next_step_check_passes_on_the_solution(capsys):
    ch01.check_next_step(next_step_solution)
    assert "✅ Exercise 1.3 passed" in capsys.readouterr().out


def test_next_step_check_says_not_done_on_the_stub():
    with pytest.raises(ExerciseNotDone, match="1.3"):
        ch01.check_next_step(next_step_stub)


def next_step_equal_only(attempt, error, policy):
    """Wrong: `==` — an attempt past the limit is retried for ever."""
    if attempt == policy.max_attempts:
        return ("dead-letter", "failed")
    return policy.next_step(min(attempt, policy.max_attempts - 1), error)


def next_step_schema_last(attempt, error, policy):
    """Wrong: tests EventFormatError before its subclass SchemaError."""
    if isinstance(error, EventFormatError):
        return ("dead-letter", "malformed")
    return policy.next_step(attempt, error)


def next_step_hard_coded(attempt, error, policy):
    """Wrong: the numbers of the example policy written in; the argument ignored."""
    return RetryPolicy(max_attempts=4, initial_delay=0.1, factor=2.0, max_delay=0.3).next_step(attempt, error)


def next_step_exponent(attempt, error, policy):
    """Wrong: factor ** attempt — the first retry already waits twice as long."""
    step, arg = policy.next_step(attempt, error)
    return (
        (step, min(policy.max_delay, policy.initial_delay * policy.factor**attempt)) if step == "retry" else (step, arg)
    )


@pytest.mark.parametrize(
    "wrong,hint",
    [
        (next_step_retries_everything, "Retrying cannot fix"),
        (next_step_off_by_one, "After max_attempts"),
        (next_step_no_cap, "must not grow past max_delay"),
        (next_step_equal_only, "Compare with >=, not =="),
        (next_step_schema_last, "test it first"),
        (next_step_hard_coded, "ignored its `policy` argument"),
        (next_step_exponent, "exponent is one too high"),
    ],
)
def test_next_step_check_catches_wrong_answers(wrong, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        ch01.check_next_step(wrong)


def test_the_package_policy_is_the_reference():
    assert RetryPolicy().next_step(1, RuntimeError()) == ("retry", 0.1)
