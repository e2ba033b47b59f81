"""The saga's decisions as pure functions: no services needed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from workshop.events import Event
from workshop.orders import course, domain, schemas

ITEMS = [{"sku": "BOOK", "qty": 2, "price": 10.0}, {"sku": "MUG", "qty": 1, "price": 5.0}]


def paid(items=ITEMS) -> Event:
    return domain.charge(domain.place_order("ORD-1", "alice", items, 25.0))


def test_charge_accepts_within_the_limit_and_keeps_the_conversation():
    order = domain.place_order("ORD-1", "alice", ITEMS, 25.0)
    p = domain.charge(order)
    assert p.event_type == "PaymentProcessed" and p.data["amount"] == "25.00"
    assert (p.causation_id, p.correlation_id) == (order.event_id, order.correlation_id)
    assert domain.charge(domain.place_order("ORD-2", "bob", ITEMS, 5000)).event_type == "PaymentFailed"


def test_reserve_takes_all_items_or_none_and_a_shortage_carries_the_refund():
    levels, e = domain.reserve({"BOOK": 5, "MUG": 1}, paid())
    assert (e.event_type, levels) == ("InventoryReserved", {"BOOK": 3, "MUG": 0})
    levels, e = domain.reserve({"BOOK": 5, "MUG": 0}, paid())
    assert (e.event_type, levels) == ("InventoryShortage", {})
    assert e.data == {"missing": {"MUG": 1}, "payment_id": "PAY-ORD-1", "amount": "25.00"}
    assert domain.refund(e).data == {"payment_id": "PAY-ORD-1", "amount": "25.00"}


def test_reserve_adds_up_repeated_skus():
    levels, e = domain.reserve({"BOOK": 3}, paid([{"sku": "BOOK", "qty": 2, "price": 1}] * 2))
    assert e.event_type == "InventoryShortage" and e.data["missing"] == {"BOOK": 1}


def test_order_status_moves_forward_only_and_failed_sagas_are_cancelled():
    ship = domain.ship(domain.reserve({"BOOK": 9, "MUG": 9}, paid())[1])
    assert domain.next_status("reserved", ship) == "shipped"
    assert domain.next_status("shipped", domain.place_order("ORD-1", "a", ITEMS, 25)) == "shipped"
    assert domain.next_status("reserved", paid()) == "reserved"  # a late PaymentProcessed does not go back
    failed = domain.charge(domain.place_order("ORD-2", "bob", ITEMS, 5000))
    assert domain.order_reaction(failed).data == {"reason": "payment_failed"}
    assert domain.order_reaction(ship) is None


def test_tracking_number_is_stable_for_an_order():
    reserved = domain.reserve({"BOOK": 9, "MUG": 9}, paid())[1]
    assert domain.ship(reserved).data == domain.ship(reserved).data


def test_schema_rejects_bad_events_before_they_are_published():
    with pytest.raises(schemas.SchemaError, match="items"):
        domain.place_order("ORD-1", "alice", [], 10)
    with pytest.raises(schemas.SchemaError, match="unknown event type"):
        schemas.routing_key("Nonsense")
    with pytest.raises(schemas.SchemaError, match="no schema version 2"):
        schemas.validate(domain.place_order("ORD-1", "a", ITEMS, 25).replace(schema_version=2))


def test_the_course_ids_collide_and_ours_do_not():
    clock = iter([1700000000.1, 1700000000.5, 1700000000.9, 1700000001.2]).__next__
    assert [course.order_id(clock) for _ in range(4)] == ["ORD-1700000000"] * 3 + ["ORD-1700000001"]
    assert len({domain.new_order_id() for _ in range(10_000)}) == 10_000


async def test_the_course_handler_forgets_to_import_time():
    assert await course.run_create_order() == "NameError: name 'time' is not defined"


def test_amounts_are_exact_strings_with_two_places_in_every_event():
    order = domain.place_order("ORD-1", "alice", [{"sku": "PEN", "qty": 3, "price": 0.1}])  # total: the items' sum
    assert order.data["total"] == "0.30" and order.data["items"][0]["price"] == "0.10"  # 3 * 0.1 is not 0.3 in floats
    assert schemas.money(order.data["total"]) == Decimal("0.3")
    assert domain.charge(order).data["amount"] == "0.30"
    assert schemas.order_total([{"sku": "A", "qty": 2, "price": "12.5"}]) == Decimal("25.00")
    legacy = Event(
        "OrderCreated", "ORD-1", {"user_id": "a", "items": [{"sku": "A", "qty": 1, "price": 12.5}], "total": 12.5}
    )
    assert schemas.validate(legacy) is legacy  # a number from an older producer is still read


@pytest.mark.parametrize("amount", [1.004, "lots", float("nan"), float("inf"), 1e10, "1e308", True, ""])
def test_an_amount_the_currency_or_the_database_cannot_hold_is_refused(amount):
    with pytest.raises(schemas.SchemaError, match="amount"):
        schemas.money(amount)
    with pytest.raises(schemas.SchemaError, match="total"):
        domain.place_order("ORD-1", "alice", ITEMS, amount)


def test_the_credit_limit_compares_exact_amounts_and_notifications_show_two_places():
    assert (
        domain.charge(domain.place_order("ORD-1", "a", [{"sku": "A", "qty": 1, "price": "1000.00"}])).event_type
        == "PaymentProcessed"
    )
    failed = domain.charge(domain.place_order("ORD-1", "a", [{"sku": "A", "qty": 1, "price": "1000.01"}]))
    assert failed.event_type == "PaymentFailed" and failed.data["reason"] == "over the 1000 limit"
    assert domain.notification(paid(), "alice").data["text"] == "Payment of 25.00 accepted for ORD-1."
