"""The course's CQRS code as written: it runs, and its problems are real."""

from __future__ import annotations

import pytest

from workshop.cqrs.course import CommandHandler, CourseMemoryStore, CreateUserCommand, EventBus, UserReadModel
from workshop.cqrs.lag import LagMeter, percentile


def wired():
    store, bus, model = CourseMemoryStore(), EventBus(), UserReadModel()
    bus.subscribe("UserCreated", model.handle_user_created)
    return store, bus, model, CommandHandler(store, bus)


def test_the_course_code_works_on_the_happy_path():
    store, _, model, handler = wired()
    handler.handle_create_user(CreateUserCommand("u1", "Ada", "ada@example.org"))
    assert model.get_user("u1") == {"id": "u1", "name": "Ada", "email": "ada@example.org", "status": "inactive"}


def test_the_course_code_validates_nothing_and_allows_duplicates():
    store, _, model, handler = wired()
    handler.handle_create_user(CreateUserCommand("u1", "", "no-at-sign"))
    handler.handle_create_user(CreateUserCommand("u1", "", "no-at-sign"))
    assert len(store.events) == 2 and [e["version"] for e in store.events] == [1, 2]


def test_a_failing_read_model_fails_the_command_after_the_event_was_stored():
    store, bus, model, handler = wired()

    def broken(event):
        raise ConnectionError("read model down")

    bus.subscribe("UserCreated", broken)
    with pytest.raises(ConnectionError):
        handler.handle_create_user(CreateUserCommand("u1", "Ada", "ada@example.org"))
    assert len(store.events) == 1  # stored, yet the caller was told it failed


def test_lag_meter_measures_per_model_and_clips_at_zero():
    class P:
        name, listeners = "users", []

    meter, p = LagMeter(), P()
    meter.listen(p)
    meter.accept(1, 10.0)
    meter.accept(2, 10.0)
    p.listeners[0]([1, 2], 10.004)
    p.listeners[0]([2], 11.0)  # a later commit does not move the first visibility
    meter.accept(3, 12.0)
    p.listeners[0]([3], 11.9)  # visible before the client had its answer
    assert meter.lags_ms("users") == pytest.approx([4.0, 4.0, 0.0])
    assert meter.summary()["users"]["n"] == 3
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
