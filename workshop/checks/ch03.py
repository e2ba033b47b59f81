"""Checks for chapter 3's exercises (solutions/03_event_sourcing_practice.ipynb).

Each check takes the learner's function and tries it on small, hand-made event
streams; no database needed, except what the memory store provides.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from workshop import users
from workshop.checks import acall, call, check, expect, expect_equal, expect_isinstance, fail, trying
from workshop.events import Event
from workshop.store import ConcurrencyError, MemoryEventStore
from workshop.store.upcasting import Upcasters

T0 = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)


def alice(renamed: bool = True) -> list[Event]:
    """Alice's stream, current schema, with versions and one-day-apart timestamps."""
    events = [
        users.UserCreated("user-1", "Alice", "Liddell", "alice@example.com"),
        users.EmailUpdated("user-1", email="alice@wonderland.example"),
        Event("UserRenamed", "user-1", {"first_name": "Alice", "last_name": "Hargreaves"}),
        users.UserActivated("user-1"),
    ]
    if not renamed:
        events.pop(2)
    return [e.replace(version=i, timestamp=(T0 + timedelta(days=i - 1)).isoformat()) for i, e in enumerate(events, 1)]


# --- 3.1 -----------------------------------------------------------------------------------


@check("3.1")
def check_evolve_renamed(evolve: Callable[[dict, Event], dict]) -> str:
    events = alice()
    state: dict = {}
    states = []
    for e in events:
        before = copy.deepcopy(state)
        new = call(
            "3.1",
            evolve,
            state,
            e,
            hint=f"evolve() is called with every event type; {e.event_type}'s fields are in event.data",
        )
        expect_isinstance(
            "3.1",
            new,
            dict,
            what=f"evolve()'s result for {e.event_type}",
            hint="evolve() returns the new state as a dict.",
        )
        expect(
            "3.1",
            state == before,
            f"evolve() changed the state it was given while applying {e.event_type}. Return a new dict "
            "({**state, 'name': …}) instead: earlier states are history and must stay as they were.",
        )
        states.append(new)
        state = new
    expect_equal(
        "3.1",
        states[0],
        users.evolve({}, events[0]),
        what="the state after UserCreated",
        hint="For every event type but UserRenamed, hand over to users.evolve(state, event): it knows "
        "UserCreated, EmailUpdated, UserActivated.",
    )
    expect_equal(
        "3.1",
        states[2].get("name"),
        "Alice Hargreaves",
        what="the name after UserRenamed",
        hint="Join first_name and last_name with a space, as UserCreated does.",
    )
    expect_equal(
        "3.1",
        states[1].get("name"),
        "Alice Liddell",
        what="the name before UserRenamed",
        hint="Only UserRenamed changes the name.",
    )
    expect_equal(
        "3.1",
        state,
        {"id": "user-1", "name": "Alice Hargreaves", "email": "alice@wonderland.example", "status": "active"},
        what="the final state",
        hint="For every other event type, hand over to users.evolve(state, event).",
    )
    return "UserRenamed is applied, and no earlier state was touched"


# --- 3.2 -----------------------------------------------------------------------------------


@check("3.2")
def check_state_as_of(state_as_of: Callable[[list[Event], datetime, Callable], dict]) -> str:
    events = alice(renamed=False)  # created Jan 1, email Jan 2, activated Jan 3 (09:00 each)
    cases = [
        (T0 - timedelta(days=1), {}, "before the first event there is no user yet: {}"),
        (T0 + timedelta(hours=12), {"status": "inactive", "email": "alice@example.com"}, "after UserCreated only"),
        (
            T0 + timedelta(days=1),
            {"status": "inactive", "email": "alice@wonderland.example"},
            "an event that happened exactly at `when` counts (use <=, not <)",
        ),
        (T0 + timedelta(days=30), {"status": "active", "email": "alice@wonderland.example"}, "after everything"),
    ]
    for when, expected, hint in cases:
        got = call(
            "3.2",
            state_as_of,
            list(events),
            when,
            users.evolve,
            shown=f"state_as_of(events, {when:%Y-%m-%d %H:%M} UTC, users.evolve)",
            hint="compare each event's time (event.when, a datetime) with `when`",
        )
        expect_isinstance("3.2", got, dict, what="state_as_of()'s result")
        picked = {k: got.get(k) for k in expected}
        expect_equal(
            "3.2", picked if expected else got, expected, what=f"the state as of {when.isoformat()}", hint=hint
        )
    return "the state at any moment, boundaries included"


# --- 3.3 -----------------------------------------------------------------------------------


@check("3.3")
def check_upcaster(upcast_v1: Callable[[dict], dict]) -> str:
    cases = [
        ("Ada Lovelace", "Ada", "Lovelace", "v1 data is {'name': …, 'email': …}"),
        ("Cher", "Cher", "", "a name can be a single word"),
        ("Ada King Lovelace", "Ada", "King Lovelace", "a name can have more than two words"),
    ]
    for name, first, last, crash_hint in cases:
        data = {"name": name, "email": "x@example.com"}
        original = dict(data)
        got = call("3.3", upcast_v1, data, hint=crash_hint)
        expect_isinstance("3.3", got, dict, what="the upcaster's result", hint="Return the new data dict.")
        expect("3.3", data == original, "the upcaster changed the dict it was given; build a new one.")
        expect_equal(
            "3.3",
            (got.get("first_name"), got.get("last_name")),
            (first, last),
            what=f"(first_name, last_name) for {name!r}",
            hint="Split at the first space only: name.partition(' ') or name.split(' ', 1).",
        )
        expect("3.3", "name" not in got, "v2 has no 'name' field any more: leave it out of the result.")
        expect_equal(
            "3.3", got.get("email"), "x@example.com", what="the email", hint="Keep every other field as it was."
        )
    chain = Upcasters()
    chain.register("UserCreated", from_version=1)(upcast_v1)
    old = Event("UserCreated", "user-9", {"name": "Grace Hopper", "email": "grace@example.com"})
    with trying(
        "3.3",
        "Upcasters.upcast(a v1 UserCreated) with your upcast_v1 registered",
        hint="the upcaster gets the event's data dict and returns the new one",
    ):
        new = chain.upcast(old)
    expect_equal("3.3", users.evolve({}, new)["name"], "Grace Hopper", what="the name after upcasting and evolve")
    return "v1 events read as v2; the stored data is untouched"


# --- 3.4 -----------------------------------------------------------------------------------


@check("3.4")
def check_snapshot_policy(should_snapshot: Callable[[int, int], bool]) -> str:
    cases = [
        ((0, 1), False),
        ((0, 99), False),
        ((99, 100), True),
        ((100, 101), False),
        ((199, 200), True),
        ((98, 102), True),
        ((150, 260), True),
        ((200, 299), False),
    ]
    for (old, new), expected in cases:
        got = call("3.4", should_snapshot, old, new, hint="both arguments are stream versions (ints)")
        expect_isinstance("3.4", got, bool, what=f"should_snapshot({old}, {new})")
        if got != expected:
            hint = (
                "an append of several events can jump over a multiple of 100 (98 → 102): "
                "compare which hundred the old and the new version fall in."
                if (old, new) == (98, 102)
                else "that is true for every append: / gives a float (0.01 > 0.0) — compare whole hundreds "
                "with // (new // 100 > old // 100)."
                if (old, new) == (0, 1)
                else "snapshot exactly when the append crosses a multiple of 100."
            )
            fail("3.4", f"should_snapshot({old}, {new}) returned {got}, expected {expected}: {hint}")
    return "one snapshot per hundred events, even when a batch jumps over the mark"


# --- 3.5 -----------------------------------------------------------------------------------


class _Contested(MemoryEventStore):
    """A store where another writer sneaks in an email change before our first ``rivals`` appends."""

    def __init__(self, rivals: int) -> None:
        super().__init__()
        self.rivals, self.attempts = rivals, 0

    async def append(self, stream_id, events, expected_version):
        self.attempts += 1
        if self.rivals > 0 and events:
            self.rivals -= 1
            current = await self.version(stream_id)
            rival = users.EmailUpdated(stream_id, email=f"rival{self.rivals}@example.com")
            await super().append(stream_id, [rival], current)
        return await super().append(stream_id, events, expected_version)


@check("3.5")
async def check_append_with_retry(append_with_retry: Callable[..., Any]) -> str:
    store = _Contested(rivals=2)
    await MemoryEventStore.append(
        store, "user-1", [users.UserCreated("user-1", "Alice", "Liddell", "a@example.com")], 0
    )
    seen_versions: list[int] = []

    def decide(state: dict) -> list[Event]:
        seen_versions.append(state.get("_v", 0))
        return users.decide(users.ActivateUser("user-1"), state)

    def evolve(state: dict, event: Event) -> dict:
        return {**users.evolve(state, event), "_v": event.version}

    try:
        version = await acall(
            "3.5",
            append_with_retry,
            store,
            "user-1",
            decide,
            evolve,
            shown="append_with_retry(store, 'user-1', decide, evolve)",
            hint="await store.read(stream_id) gives the events; fold(evolve, events) the state",
            allow=(ConcurrencyError,),
        )
    except ConcurrencyError as exc:
        fail(
            "3.5",
            f"ConcurrencyError escaped after {store.attempts} attempt(s) ({exc}). On a conflict, load the "
            "stream again (new state, new version), decide again, and append with the *new* version.",
        )
    events = await store.read("user-1")
    expect_equal(
        "3.5",
        [e.event_type for e in events],
        ["UserCreated", "EmailUpdated", "EmailUpdated", "UserActivated"],
        what="the stream's events",
        hint="Both rivals' events and yours should be there, yours last, exactly once.",
    )
    expect_equal("3.5", version, 4, what="the returned version", hint="Return what store.append returns.")
    expect_equal(
        "3.5",
        seen_versions,
        [1, 2, 3],
        what="the versions decide() was shown",
        hint="Call decide() with a freshly loaded state on every attempt.",
    )
    hopeless = _Contested(rivals=10)  # a stream so busy that every attempt loses
    await MemoryEventStore.append(hopeless, "user-2", [users.UserCreated("user-2", "Bob", "B", "b@example.com")], 0)

    def activate_bob(state: dict) -> list[Event]:
        return users.decide(users.ActivateUser("user-2"), state)

    try:
        await acall(
            "3.5",
            append_with_retry,
            hopeless,
            "user-2",
            activate_bob,
            users.evolve,
            3,
            shown="append_with_retry(store, 'user-2', decide, evolve, attempts=3) on a stream that "
            "changes before every append",
            allow=(ConcurrencyError,),
        )
    except ConcurrencyError:
        pass
    else:
        fail(
            "3.5",
            f"with attempts=3 on a stream that changes before every append, append_with_retry made "
            f"{hopeless.attempts} attempts and returned: give up after `attempts` tries and let the "
            "ConcurrencyError out (the caller decides what to tell the user).",
        )
    expect(
        "3.5",
        hopeless.attempts <= 3,
        f"with attempts=3, append_with_retry tried {hopeless.attempts} times: your function ignored its "
        "`attempts` argument.",
    )
    return "conflicts were retried with a fresh state: nothing lost, nothing doubled"
