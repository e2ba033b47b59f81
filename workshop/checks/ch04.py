"""Checks for chapter 4's exercises (solutions/04_cqrs.ipynb).

Everything runs on small, hand-made feeds and the memory store: no services needed.

* 4.1 ``project(view, records)`` — a projection that keeps its checkpoint: replays and
  redeliveries change nothing, unknown types are skipped and counted;
* 4.2 ``cached_user(cache, floors, user_id, load)`` and ``raise_floor(floors, event)`` — a query
  with a cache that events make stale;
* 4.3 ``rebuild(store, view, batch)`` — a read model rebuilt from the whole feed, batch by batch,
  until nothing is left (events appended meanwhile included).
"""

from __future__ import annotations

import copy
from typing import Any, Callable

from workshop import users
from workshop.checks import acall, call, check, expect, expect_equal, expect_isinstance
from workshop.events import Event
from workshop.store import MemoryEventStore, Recorded


def feed() -> list[Recorded]:
    """Three users: Alice active, Bob deleted, Carol inactive; plus an event nobody knows."""
    events = [
        users.UserCreated("alice", "Alice", "Liddell", "alice@example.org"),
        users.UserCreated("bob", "Bob", "Builder", "bob@example.org"),
        users.UserActivated("alice"),
        Event("NewsletterSubscribed", "alice", {"topic": "cqrs"}),
        users.UserDeleted("bob", reason="asked to"),
        users.UserCreated("carol", "Carol", "Danvers", "carol@example.org"),
    ]
    versions: dict[str, int] = {}
    out = []
    for position, e in enumerate(events, 1):
        versions[e.aggregate_id] = versions.get(e.aggregate_id, 0) + 1
        out.append(Recorded(position, e.replace(version=versions[e.aggregate_id])))
    return out


EMPTY = {"position": 0, "statuses": {}, "skipped": 0}
FINAL = {"position": 6, "statuses": {"alice": "active", "bob": "deleted", "carol": "inactive"}, "skipped": 1}


# --- 4.1 -----------------------------------------------------------------------------------

@check("4.1")
def check_project(project: Callable[[dict, list[Recorded]], dict]) -> str:
    records = feed()

    def run(view: dict, batch: list[Recorded], what: str) -> dict:
        before = copy.deepcopy(view)
        got = call("4.1", project, view, batch, shown=f"project(view, {what})",
                   hint="records are Recorded(position, event): use record.position and record.event")
        expect_isinstance("4.1", got, dict, what="project()'s result", hint="return the new view as a dict")
        expect("4.1", view == before, "project() changed the view it was given; build a new dict "
                                      "({**view, ...}) — the caller may still need the old one.")
        return got

    view = run(copy.deepcopy(EMPTY), records, "all six records")
    expect_equal("4.1", view.get("statuses"), FINAL["statuses"], what="the statuses",
                 hint="UserCreated → inactive, UserActivated → active, UserDeleted → deleted.")
    expect_equal("4.1", view.get("skipped"), 1, what="'skipped'",
                 hint="this view knows UserCreated, UserActivated and UserDeleted; skip anything else and add 1 to 'skipped'.")
    expect_equal("4.1", view.get("position"), 6, what="'position' after the batch",
                 hint="the checkpoint is the position of the last record handled — skipped ones included.")
    again = run(view, records, "the same six records again")
    expect_equal("4.1", again, view, what="the view after a redelivery of the same batch",
                 hint="records at or below view['position'] were applied already: ignore them.")
    halves = run(run(copy.deepcopy(EMPTY), records[:3], "records 1-3"), records[1:], "records 2-6 (2 and 3 again)")
    expect_equal("4.1", halves, view, what="the view after two overlapping batches",
                 hint="an overlapping batch must not apply anything twice (compare each position with the checkpoint).")
    return "replays change nothing, unknown types are counted, the checkpoint moves with the batch"


# --- 4.2 -----------------------------------------------------------------------------------

@check("4.2")
def check_cache(cached_user: Callable[..., dict | None], raise_floor: Callable[[dict, Event], None]) -> str:
    rows = {"alice": {"user_id": "alice", "email": "alice@example.org", "version": 1}}
    loads: list[str] = []

    def load(user_id: str) -> dict | None:
        loads.append(user_id)
        row = rows.get(user_id)
        return dict(row) if row else None

    cache: dict[str, dict] = {}
    floors: dict[str, int] = {}
    shown = "cached_user(cache, floors, 'alice', load)"
    first = call("4.2", cached_user, cache, floors, "alice", load, shown=shown)
    expect_equal("4.2", first, rows["alice"], what="the first answer", hint="on a miss, load the row and return it.")
    expect("4.2", "alice" in cache, "after a miss, put the loaded row in the cache (cache[user_id] = row).")
    call("4.2", cached_user, cache, floors, "alice", load, shown=shown)
    expect_equal("4.2", loads, ["alice"], what="the calls to load()",
                 hint="the second read should come from the cache: load() only on a miss.")

    changed = users.EmailUpdated("alice", email="alice@wonderland.example").replace(version=2)
    rows["alice"] = {"user_id": "alice", "email": "alice@wonderland.example", "version": 2}
    call("4.2", raise_floor, floors, changed, shown="raise_floor(floors, EmailUpdated v2)")
    expect_equal("4.2", floors.get("alice"), 2, what="floors['alice'] after EmailUpdated v2",
                 hint="the floor is the newest version the feed has shown for that user.")
    call("4.2", raise_floor, floors, changed.replace(version=1), shown="raise_floor(floors, an older v1 again)")
    expect_equal("4.2", floors.get("alice"), 2, what="floors['alice'] after a late v1",
                 hint="a floor never goes down: keep the larger version.")
    got = call("4.2", cached_user, cache, floors, "alice", load, shown=shown)
    expect_equal("4.2", (got or {}).get("email"), "alice@wonderland.example", what="the email after the change",
                 hint="a cached row whose version is below the floor is stale: load it again.")

    cache["alice"] = {"user_id": "alice", "email": "alice@example.org", "version": 1}  # a slow reader, too late
    got = call("4.2", cached_user, cache, floors, "alice", load, shown=shown + " after a late write of v1")
    expect_equal("4.2", (got or {}).get("version"), 2, what="the version served after a stale entry was cached late",
                 hint="compare the entry's version with the floor every time you read the cache.")
    missing = call("4.2", cached_user, cache, floors, "nobody", load, shown="cached_user(cache, floors, 'nobody', load)")
    expect_equal("4.2", missing, None, what="the answer for an unknown user", hint="load() returns None: return None.")
    expect("4.2", "nobody" not in cache or cache["nobody"] is None,
           "don't cache a miss as if it were a user.")
    return "repeats come from the cache, and no entry older than an event is ever served"


# --- 4.3 -----------------------------------------------------------------------------------

class _View:
    def __init__(self) -> None:
        self.statuses: dict[str, str] = {}
        self.position = 0

    def apply(self, event: Event, position: int) -> None:
        status = {"UserCreated": "inactive", "UserActivated": "active", "UserDeleted": "deleted"}.get(event.event_type)
        if status:
            self.statuses[event.aggregate_id] = status
        self.position = position


class _WatchedStore:
    """A memory store that records each read_all() and, once a read reaches the head, appends one more event."""

    def __init__(self, store: MemoryEventStore, late: Event) -> None:
        self.store, self.late, self.reads, self.appended = store, late, [], False

    async def read_all(self, after: int = 0, limit: int = 1000) -> list[Recorded]:
        self.reads.append((after, limit))
        chunk = await self.store.read_all(after=after, limit=limit)
        if chunk and not self.appended and chunk[-1].position == await self.store.head():
            self.appended = True  # a write arrives just as the rebuild reaches the end
            await self.store.append(self.late.aggregate_id, [self.late], expected_version=0)
        return chunk

    async def head(self) -> int:
        return await self.store.head()


@check("4.3")
async def check_rebuild(rebuild: Callable[..., Any]) -> str:
    memory = MemoryEventStore()
    for i in range(25):
        await memory.append(f"u{i}", [users.UserCreated(f"u{i}", "U", str(i), f"u{i}@example.org")], 0)
        if i % 3 == 0:
            await memory.append(f"u{i}", [users.UserActivated(f"u{i}")], 1)
    store = _WatchedStore(memory, users.UserCreated("late", "Late", "Comer", "late@example.org"))
    view = _View()
    got = await acall("4.3", rebuild, store, view, 10, shown="await rebuild(store, view, batch=10)",
                      hint="read with `await store.read_all(after=..., limit=batch)`")
    expect("4.3", store.reads, "rebuild() never called store.read_all(): read the feed from position 0.")
    expect("4.3", all(limit <= 10 for _, limit in store.reads),
           f"read_all() was asked for more than `batch` events at once ({store.reads[:3]}…): pass limit=batch.")
    expect_equal("4.3", store.reads[0][0], 0, what="the first read's `after`", hint="a rebuild starts at position 0.")
    head = await memory.head()
    expect_equal("4.3", view.position, head, what="the view's position at the end",
                 hint="keep reading until read_all() returns nothing — an event appended during the rebuild "
                      "(position 35) must be in the new view too; don't stop at the head you saw at the start.")
    expect_equal("4.3", view.statuses.get("late"), "inactive", what="the user created during the rebuild")
    expect_equal("4.3", len(view.statuses), 26, what="the number of users in the rebuilt view")
    expect_equal("4.3", got, head, what="rebuild()'s result", hint="return the last position applied.")
    return f"{head} events in batches of 10, including one appended while it ran"
