"""Event.from_json's fast path (one pydantic pass over what to_json writes) accepts and refuses
exactly what the general path (json.loads, then from_dict) does, with the same event or error."""

from __future__ import annotations

import json
from typing import Any

import pytest

from workshop.events import Event, EventFormatError
from workshop.pubsub.publisher import user_action

WRITTEN = json.loads(user_action(7).to_json())


def changed(**fields: Any) -> str:
    return json.dumps({**WRITTEN, **fields})


VARIANTS: dict[str, str | bytes] = {
    "as written": user_action(7).to_json(),
    "as bytes": user_action(7).to_json().encode(),
    "a naive timestamp (made UTC)": changed(timestamp="2026-12-02T10:00:00"),
    "no correlation id (takes the event id)": changed(correlation_id=None),
    "a causation id": changed(causation_id="e-1"),
    "version as a string": changed(version="1"),
    "version true": changed(version=True),
    "version 0": changed(version=0),
    "schema_version 1.0": changed(schema_version=1.0),
    "an empty aggregate id": changed(aggregate_id=""),
    "data a list": changed(data=[1]),
    "a NUL in the event type": changed(event_type="user\x00action"),
    "a NUL in the correlation id": changed(correlation_id="c\x00"),
    "an unknown field": changed(extra=1),
    "a timestamp that is not a date": changed(timestamp="not a date"),
    "a timestamp that is a number": changed(timestamp=5),
    "not JSON": user_action(7).to_json()[:-1],
    "not an object": "[1, 2]",
}
ACCEPTED = {
    "as written",
    "as bytes",
    "a naive timestamp (made UTC)",
    "no correlation id (takes the event id)",
    "a causation id",
}


def general(text: str | bytes) -> Event:
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise EventFormatError(f"not valid JSON ({exc})") from None
    return Event.from_dict(raw)


def outcome(parse: Any, text: str | bytes) -> tuple[str, Any]:
    try:
        return ("event", vars(parse(text)))
    except EventFormatError as exc:
        return ("refused", str(exc).split(" (")[0])


@pytest.mark.parametrize("name", VARIANTS)
def test_the_fast_path_decides_as_the_general_one(name: str) -> None:
    fast, slow = outcome(Event.from_json, VARIANTS[name]), outcome(general, VARIANTS[name])
    assert fast == slow
    assert (fast[0] == "event") == (name in ACCEPTED), fast


def test_what_the_general_path_fills_in_is_filled_in() -> None:
    assert Event.from_json(VARIANTS["a naive timestamp (made UTC)"]).timestamp == "2026-12-02T10:00:00+00:00"
    event = Event.from_json(VARIANTS["no correlation id (takes the event id)"])
    assert event.correlation_id == event.event_id
