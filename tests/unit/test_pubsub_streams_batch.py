"""A Streams batch: each entry is parsed on its own, so a malformed neighbour never changes what a good entry reads as;
the good ones are acknowledged with one XACK, the bad ones dead-lettered."""

from __future__ import annotations

import asyncio

from workshop.config import Namespace
from workshop.pubsub.publisher import user_action
from workshop.pubsub.streams import FIELD, GroupConsumer


class Acks:
    """Stands in for redis-py: records XACKs and dead letters."""

    def __init__(self) -> None:
        self.acked: list[str] = []

    async def xack(self, key: str, group: str, *ids: str) -> None:
        self.acked += ids

    def pipeline(self, transaction: bool = True) -> Pipe:
        return Pipe()


class Pipe:
    """A dead letter's MULTI/EXEC: XADD to the dead-letter stream, XACK."""

    def xadd(self, *args: object, **kw: object) -> None:
        pass

    def xack(self, *args: object) -> None:
        pass

    async def execute(self) -> None:
        pass


def handle(entries: list[tuple[str, dict[str, str]]]) -> tuple[GroupConsumer, Acks]:
    redis = Acks()
    c = GroupConsumer(redis, Namespace("ws_test"), "s", group="g", consumer="c", log_line=lambda line: None)
    asyncio.run(c._handle_all(entries, [1] * len(entries)))
    return c, redis


def test_a_good_batch_is_handled_in_order_and_acked():
    events = [user_action(i) for i in range(3)]
    entries = [(f"{i}-0", {FIELD: e.to_json()}) for i, e in enumerate(events)]
    c, redis = handle(entries)
    assert [e for _, _, e in c.handled] == events and redis.acked == ["0-0", "1-0", "2-0"]


def test_malformed_neighbours_that_still_parse_as_an_array_do_not_swallow_a_good_entry():
    good = user_action(7)
    # joined: [[1,{good},2],0,0] — three items for three entries, but none is its entry's own
    entries = [("1-0", {FIELD: "[1"}), ("2-0", {FIELD: good.to_json()}), ("3-0", {FIELD: "2],0,0"})]
    c, redis = handle(entries)
    assert [e for _, _, e in c.handled] == [good] and redis.acked == ["2-0"]
    assert c.stats.bad == 2 and c.stats.dead_lettered == 2


def test_an_entry_without_the_field_is_dead_lettered_and_its_neighbour_handled():
    good = user_action(1)
    entries = [("1-0", {"other": "x"}), ("2-0", {FIELD: good.to_json()})]
    c, _ = handle(entries)
    assert [e for _, _, e in c.handled] == [good] and c.stats.bad == 1
