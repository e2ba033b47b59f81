"""Chapter 1's checks: pass on the solution, 'not done' on the stub, a hint on plausible wrong answers."""

from __future__ import annotations

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
        return levels, schemas.make("InventoryShortage", payment.aggregate_id,
                                    {"missing": missing, "payment_id": payment.data["payment_id"],
                                     "amount": payment.data["amount"]}, cause=payment)
    return levels, schemas.make("InventoryReserved", payment.aggregate_id, {"items": payment.data["items"]},
                                cause=payment)


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


@pytest.mark.parametrize("wrong,hint", [(reserve_partial, "All or nothing"), (reserve_in_place, "in place")])
def test_reserve_check_catches_wrong_answers(wrong, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        ch01.check_reserve(wrong)


# --- 1.2 -----------------------------------------------------------------------------------


def idempotent_solution(handler, seen):
    async def once(event, delivery):
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


async def test_idempotent_check_passes_on_the_solution(capsys):
    await ch01.check_idempotent(idempotent_solution)
    assert "✅ Exercise 1.2 passed" in capsys.readouterr().out


async def test_idempotent_check_says_not_done_on_the_stub():
    with pytest.raises(ExerciseNotDone, match="1.2"):
        await ch01.check_idempotent(idempotent_stub)


@pytest.mark.parametrize("wrong,hint", [(idempotent_mark_first, "AFTER the handler succeeded"),
                                        (idempotent_by_order, "not by the order")])
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


@pytest.mark.parametrize("wrong,hint", [(next_step_retries_everything, "Retrying cannot fix"),
                                        (next_step_off_by_one, "After max_attempts"),
                                        (next_step_no_cap, "capped at max_delay")])
def test_next_step_check_catches_wrong_answers(wrong, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        ch01.check_next_step(wrong)


def test_the_package_policy_is_the_reference():
    assert RetryPolicy().next_step(1, RuntimeError()) == ("retry", 0.1)
