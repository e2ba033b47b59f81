"""Chapter 7's checks: the solutions pass, the stubs are 'not done', each plausible mistake gets its hint, a crash is one line."""

from __future__ import annotations

import random
import zlib

import pytest

from tests.one_line import assert_one_line
from workshop.checks import ExerciseFailed, ExerciseNotDone, ch07

pytestmark = pytest.mark.unit


def partition_of(event, partitions):  # as in solutions/07_cluster.ipynb
    return zlib.crc32(event["order_id"].encode()) % partitions


def handle_payment(event, inbox, charge):  # as in solutions/07_cluster.ipynb
    if event["event_id"] in inbox:
        return False
    charge(event)
    inbox.add(event["event_id"])
    return True


def stub(*args):
    raise NotImplementedError("Exercise 7.x")


def test_the_solutions_pass(capsys):
    ch07.check_partition(partition_of)
    ch07.check_redelivery(handle_payment)
    out = capsys.readouterr().out
    assert "✅ Exercise 7.1 passed" in out and "✅ Exercise 7.2 passed" in out


def test_the_stubs_are_not_done():
    with pytest.raises(ExerciseNotDone, match="7.1"):
        ch07.check_partition(stub)
    with pytest.raises(ExerciseNotDone, match="7.2"):
        ch07.check_redelivery(stub)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda e, n: zlib.crc32(e["event_id"].encode()) % n, "from the order id, not from the event id"),  # wrong key
        (lambda e, n: zlib.crc32(e["order_id"].encode()) % n + 1, "a whole number from 0 to"),  # off by one
        (lambda e, n: random.randrange(n), "same partition"),  # not stable
        (lambda e, n: 0, "spread the orders"),  # one partition does all the work
        (lambda e, n: str(zlib.crc32(e["order_id"].encode()) % n), "a whole number"),  # a string
    ],
)
def test_wrong_partitions_get_a_hint(wrong, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        ch07.check_partition(wrong)


def no_inbox(event, inbox, charge):
    charge(event)
    return True


def by_order(event, inbox, charge):
    if event["order_id"] in inbox:
        return False
    charge(event)
    inbox.add(event["order_id"])
    return True


def remembered_first(event, inbox, charge):
    if event["event_id"] in inbox:
        return False
    inbox.add(event["event_id"])
    charge(event)
    return True


def swallowed_and_remembered(event, inbox, charge):
    if event["event_id"] in inbox:
        return False
    try:
        charge(event)
    except ConnectionError:
        pass
    inbox.add(event["event_id"])
    return True


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (no_inbox, "was charged 2 times"),
        (by_order, "event ids, not order ids"),
        (remembered_first, "only after the charge succeeded"),
        (swallowed_and_remembered, "only after the charge succeeded"),
    ],
)
def test_wrong_handlers_get_a_hint(wrong, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        ch07.check_redelivery(wrong)


def test_a_crash_is_one_line():
    def crashing(event, partitions):
        return int(event["order"]) % partitions  # KeyError

    with pytest.raises(ExerciseFailed) as info:
        ch07.check_partition(crashing)
    assert_one_line(info.value, "7.1", "KeyError", "crashing(")

    def crashing_handler(event, inbox, charge):
        charge(event["payload"])  # KeyError

    with pytest.raises(ExerciseFailed) as info:
        ch07.check_redelivery(crashing_handler)
    assert_one_line(info.value, "7.2", "KeyError", "handle_payment(<order 1's event>")
