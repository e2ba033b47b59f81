import json
from datetime import timezone

import pytest

from workshop.events import Event, EventFormatError, register, validate


def test_round_trip_keeps_every_field():
    e = Event("UserCreated", "user-1", {"name": "Alice"}, version=3, schema_version=2)
    back = Event.from_json(e.to_json())
    assert back == e
    assert back.when.tzinfo is not None


def test_course_json_still_loads():
    # exactly what the course's Event.to_json() produced (naive utcnow timestamp)
    course = json.dumps({"event_type": "OrderCreated", "aggregate_id": "ORD-1", "data": {"total": 9.5},
                         "timestamp": "2024-01-01T10:00:00.123456", "version": 1})
    e = Event.from_json(course)
    assert e.event_type == "OrderCreated" and e.data == {"total": 9.5}
    assert e.when.tzinfo == timezone.utc
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


def test_registered_type_rejects_bad_data_before_an_event_exists():
    make = register("TestThingHappened", {"user_id": str, "total": (int, float)})
    ok = make("a-1", user_id="u", total=2.5)
    assert validate(ok) is ok
    with pytest.raises(EventFormatError, match=r"missing 'user_id'.*'total' should be int or float, got str"):
        make("a-1", total="lots")
    with pytest.raises(EventFormatError, match="should be int or float, got bool"):
        make("a-1", user_id="u", total=True)
    with pytest.raises(EventFormatError):
        validate(Event("TestThingHappened", "a-1", {"user_id": 3, "total": 1}))
