import json
from datetime import UTC

import pytest

from workshop.events import Event, EventFormatError, EventSchemas, Schema, SchemaError, check, validated


def test_round_trip_keeps_every_field():
    e = Event("UserCreated", "user-1", {"name": "Alice"}, version=3, schema_version=2)
    back = Event.from_json(e.to_json())
    assert back == e
    assert back.when.tzinfo is not None


def test_course_json_still_loads():
    # exactly what the course's Event.to_json() produced (naive utcnow timestamp)
    course = json.dumps(
        {
            "event_type": "OrderCreated",
            "aggregate_id": "ORD-1",
            "data": {"total": 9.5},
            "timestamp": "2024-01-01T10:00:00.123456",
            "version": 1,
        }
    )
    e = Event.from_json(course)
    assert e.event_type == "OrderCreated" and e.data == {"total": 9.5}
    assert e.when.tzinfo == UTC
    assert e.schema_version == 1 and e.event_id and e.correlation_id == e.event_id


def test_positional_construction_like_the_course():
    e = Event("UserCreated", "user-1", {}, None, 1)
    assert e.when.tzinfo is not None


def test_caused_event_carries_correlation_and_causation():
    order = Event("OrderCreated", "ORD-1", {"total": 10})
    payment = order.caused("PaymentProcessed", {"amount": 10})
    shipped = payment.caused("OrderShipped", {"tracking_number": "T1"})
    assert payment.causation_id == order.event_id
    assert shipped.causation_id == payment.event_id
    assert {payment.correlation_id, shipped.correlation_id} == {order.event_id}
    assert len({order.event_id, payment.event_id, shipped.event_id}) == 3


@pytest.mark.parametrize(
    "text, words",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"event_type": "X", "data": {}}', "missing field(s) aggregate_id"),
        ('{"event_type": "X", "aggregate_id": "a", "data": {}, "colour": 1}', "unknown field(s) colour"),
        ('{"event_type": "X", "aggregate_id": "a", "data": []}', "data must be an object"),
        ('{"event_type": "X", "aggregate_id": "a", "data": {}, "version": 0}', "version must be an integer >= 1"),
        ('{"event_type": "X", "aggregate_id": "a", "data": {}, "timestamp": "yesterday"}', "is not an ISO-8601"),
        ('{"event_type": "", "aggregate_id": "a", "data": {}}', "event_type must be a non-empty string"),
    ],
)
def test_malformed_input_raises_one_clear_error(text, words):
    with pytest.raises(EventFormatError) as info:
        Event.from_json(text)
    assert words in str(info.value)


def test_bytes_that_are_not_utf8_are_a_format_error():
    with pytest.raises(EventFormatError):
        Event.from_json(b"\xff\xfe")


def test_replace_returns_a_changed_copy():
    e = Event("UserCreated", "user-1", {"name": "Alice"})
    later = e.replace(version=2)
    assert (later.version, e.version) == (2, 1)
    assert later.event_id == e.event_id and later is not e


class ThingHappened(Schema):
    user_id: str
    total: int | float


class ThingHappenedV2(Schema):
    user_id: str
    total: int | float
    note: str = ""


THINGS = EventSchemas({"TestThingHappened": {1: ThingHappened, 2: ThingHappenedV2}})


def test_a_schema_rejects_bad_data_before_an_event_exists_in_one_line():
    ok = THINGS.make("TestThingHappened", "a-1", {"user_id": "u", "total": 2.5})
    assert (ok.schema_version, ok.data) == (2, {"user_id": "u", "total": 2.5, "note": ""})  # the latest version
    assert THINGS.validate(ok) is ok
    with pytest.raises(SchemaError) as info:
        THINGS.make("TestThingHappened", "a-1", {"total": "lots"})
    assert str(info.value) == (
        "TestThingHappened v2: user_id: Field required; total.int: Input should be a valid "
        "integer, unable to parse string as an integer; total.float: Input should be a valid "
        "number, unable to parse string as a number"
    )
    with pytest.raises(SchemaError, match=r"^TestThingHappened v1: extra: Extra inputs are not permitted$"):
        THINGS.validate(Event("TestThingHappened", "a-1", {"user_id": "u", "total": 1, "extra": 1}))
    with pytest.raises(SchemaError, match=r"^TestThingHappened has no schema version 3 \(known: \[1, 2\]\)$"):
        THINGS.validate(Event("TestThingHappened", "a-1", {}, schema_version=3))
    with pytest.raises(SchemaError, match=r"^unknown event type 'SomethingElse'; known: TestThingHappened$"):
        THINGS.validate(Event("SomethingElse", "a-1", {}))
    lenient = EventSchemas(THINGS.models, others="pass")
    unknown = Event("SomethingElse", "a-1", {"anything": object()})
    assert lenient.validate(unknown) is unknown  # a domain may let other types through unchecked


def test_event_schemas_are_per_domain_not_global():
    mine, theirs = EventSchemas({"TestShared": {1: ThingHappened}}), EventSchemas({}, others="pass")
    bad = Event("TestShared", "a-1", {"n": "x"})
    assert theirs.validate(bad) is bad  # another domain's rule does not leak
    with pytest.raises(SchemaError):
        mine.validate(bad)


@pytest.mark.parametrize(
    "data",
    [
        {"user_id": "a\x00b", "total": 1},
        {"user_id": "u", "total": 1, "note": "line\x00"},
    ],
)
def test_no_text_in_event_data_holds_a_nul(data):
    with pytest.raises(SchemaError) as info:
        THINGS.validate(Event("TestThingHappened", "a-1", data, schema_version=2))
    assert str(info.value).endswith("must not contain the NUL character (\\u0000)") and "\n" not in str(info.value)


def test_no_text_anywhere_in_a_schema_holds_a_nul_not_even_in_a_list_or_a_key():
    class Nested(Schema):
        tags: list[str] = []
        counts: dict[str, int] = {}

    class Outer(Schema):
        inner: Nested
        names: tuple[str, ...] = ()

    assert check(Outer, {"inner": {"tags": ["a"], "counts": {"k": 1}}, "names": ["n"]}, "Outer")
    for bad, where in [
        ({"inner": {"tags": ["a", "b\x00"]}}, "inner.tags"),
        ({"inner": {"counts": {"k\x00": 1}}}, "inner.counts"),
        ({"inner": {}, "names": ["\x00"]}, "names"),
    ]:
        with pytest.raises(SchemaError, match=f"^Outer: {where}: must not contain the NUL character"):
            check(Outer, bad, "Outer")


@pytest.mark.parametrize("field", ["event_type", "aggregate_id", "event_id", "correlation_id", "causation_id"])
def test_no_envelope_field_holds_a_nul(field):
    fields = {"event_type": "X", "aggregate_id": "a", "data": {}, field: "bad\x00id"}
    with pytest.raises(EventFormatError, match=f"^{field} 'bad\\\\x00id' must not contain the NUL character"):
        Event(**fields)
    with pytest.raises(EventFormatError, match=field):
        Event.from_json(json.dumps(fields))


def test_validated_turns_any_rejection_into_one_schema_error():
    e = Event("OrderCreated", "ORD-1", {"total": -1})

    def positive(event):
        if event.data["total"] < 0:
            raise EventFormatError("OrderCreated: total must be >= 0")

    assert validated(e, None) is e and validated(Event("X", "a", {"total": 1}), positive).data == {"total": 1}
    with pytest.raises(SchemaError, match="^OrderCreated: total must be >= 0$") as info:
        validated(e, positive)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    with pytest.raises(ZeroDivisionError):  # a bug in the validator is not a verdict on the event
        validated(e, lambda event: 1 / 0)
