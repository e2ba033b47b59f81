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
from collections.abc import Callable
from typing import Any

from workshop import users
from workshop.checks import acall, call, check, expect, expect_equal, expect_isinstance, fail
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

_KNOWN = ("UserCreated", "UserActivated", "UserDeleted")


def _project_crash(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args and exc.args[0] not in _KNOWN and str(exc.args[0])[:1].isupper():
        return (
            f"{exc.args[0]} is an event type this view does not know: skip it (USER_STATUS.get(type) is None) "
            "and add 1 to 'skipped'"
        )
    if isinstance(exc, IndexError):
        return "a batch can be empty (nothing new): return the view as it is"
    if isinstance(exc, KeyError):
        return "the view is {'position', 'statuses', 'skipped'}; a status is keyed by record.event.aggregate_id"
    return "records are Recorded(position, event): use record.position and record.event"


@check("4.1")
def check_project(project: Callable[[dict, list[Recorded]], dict]) -> str:
    records = feed()

    def run(view: dict, batch: list[Recorded], what: str) -> dict:
        before = copy.deepcopy(view)
        got = call("4.1", project, view, batch, shown=f"project(view, {what})", hint=_project_crash)
        expect_isinstance("4.1", got, dict, what=f"project(view, {what})", hint="return the new view as a dict")
        expect(
            "4.1",
            view == before,
            f"project(view, {what}) changed the view it was given; build a new dict "
            "({**view, ...}) — the caller may still need the old one.",
        )
        expect(
            "4.1",
            {"position", "statuses", "skipped"} <= set(got),
            f"project(view, {what}) returned a view with the keys {sorted(got)}: keep "
            "'position', 'statuses' and 'skipped'.",
        )
        return got

    view = run(copy.deepcopy(EMPTY), records, "all six records")
    expect_equal(
        "4.1",
        view.get("statuses"),
        FINAL["statuses"],
        what="the statuses",
        hint="UserCreated → inactive, UserActivated → active, UserDeleted → deleted.",
    )
    expect_equal(
        "4.1",
        view.get("skipped"),
        1,
        what="'skipped' after records 1-6 (one NewsletterSubscribed)",
        hint="this view knows UserCreated, UserActivated and UserDeleted; skip anything else and add 1 to 'skipped'.",
    )
    expect_equal(
        "4.1",
        view.get("position"),
        6,
        what="'position' after records 1-6",
        hint="the checkpoint is the position of the last record handled — skipped ones included.",
    )
    expect_isinstance(
        "4.1",
        view.get("position"),
        int,
        what="'position'",
        hint="a position is a whole number: record.position, as it is.",
    )
    upto4 = run(copy.deepcopy(EMPTY), records[:4], "records 1-4, the last one NewsletterSubscribed")
    expect_equal(
        "4.1",
        upto4.get("position"),
        4,
        what="'position' after records 1-4 (4 is an unknown type)",
        hint="a skipped record is handled too: move the checkpoint past it, or it comes back forever.",
    )
    rest = run(upto4, records[3:], "records 4-6 (4 again)")
    expect_equal(
        "4.1",
        rest,
        view,
        what="the view after records 1-4, then 4-6",
        hint="record 4 is AT the checkpoint: it was applied already — skip position <= checkpoint, "
        "not < (here 'skipped' counts it twice).",
    )
    again = run(view, records, "the same six records again")
    expect_equal(
        "4.1",
        again,
        view,
        what="the view after a redelivery of the same batch",
        hint="records at or below view['position'] were applied already: ignore them.",
    )
    halves = run(run(copy.deepcopy(EMPTY), records[:3], "records 1-3"), records[1:], "records 2-6 (2 and 3 again)")
    expect_equal(
        "4.1",
        halves,
        view,
        what="the view after two overlapping batches",
        hint="an overlapping batch must not apply anything twice (compare each position with the checkpoint).",
    )
    old = run(view, records[:3], "records 1-3 again, after 1-6")
    expect_equal(
        "4.1",
        old.get("position"),
        6,
        what="'position' after an old batch (1-3) redelivered after 1-6",
        hint="a checkpoint never moves backwards: a redelivered old batch changes nothing, position "
        "included (move it only for a record you handle).",
    )
    expect_equal(
        "4.1",
        old,
        view,
        what="the view after an old batch (1-3) redelivered after 1-6",
        hint="records at or below the checkpoint were applied already: an old batch changes nothing.",
    )
    empty = run(view, [], "an empty batch")
    expect_equal("4.1", empty, view, what="the view after an empty batch", hint="nothing new: nothing changes.")
    return "replays change nothing, unknown types are counted, the checkpoint moves with the batch"


# --- 4.2 -----------------------------------------------------------------------------------


def _cache_crash(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args and exc.args[0] in ("alice", "nobody", "bob"):
        return (
            f"there is no floor (or cache entry) for {exc.args[0]!r} yet: a user no event has touched has "
            "floor 0 — floors.get(user_id, 0), cache.get(user_id)"
        )
    if isinstance(exc, (TypeError, KeyError)) and "None" in str(exc):
        return "load() returns None for an unknown user: return None, and don't cache it"
    return "cache maps user_id → row (a dict with 'version'); floors maps user_id → the newest version seen"


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

    def read(what: str = "", user: str = "alice") -> dict | None:
        return call(
            "4.2",
            cached_user,
            cache,
            floors,
            user,
            load,
            hint=_cache_crash,
            shown=f"cached_user(cache, floors, {user!r}, load){what}",
        )

    def feed_in(event: Event, what: str) -> None:
        call("4.2", raise_floor, floors, event, shown=f"raise_floor(floors, {what})", hint=_cache_crash)

    first = read(" with empty cache and floors")
    expect_equal("4.2", first, rows["alice"], what="the first answer", hint="on a miss, load the row and return it.")
    expect("4.2", "alice" in cache, "after a miss, put the loaded row in the cache (cache[user_id] = row).")
    read(" a second time")
    expect_equal(
        "4.2",
        loads,
        ["alice"],
        what="the calls to load()",
        hint="the second read should come from the cache: load() only on a miss.",
    )

    changed = users.EmailUpdated("alice", email="alice@wonderland.example").replace(version=2)
    rows["alice"] = {"user_id": "alice", "email": "alice@wonderland.example", "version": 2}
    feed_in(changed, "EmailUpdated v2")
    expect_equal(
        "4.2",
        floors.get("alice"),
        2,
        what="floors['alice'] after EmailUpdated v2",
        hint="the floor is the newest version the feed has shown for that user (event.aggregate_id → event.version).",
    )
    feed_in(changed.replace(version=1), "an older v1 again")
    expect_equal(
        "4.2",
        floors.get("alice"),
        2,
        what="floors['alice'] after a late v1",
        hint="a floor never goes down: keep the larger version.",
    )
    got = read(" after EmailUpdated v2")
    expect_equal(
        "4.2",
        (got or {}).get("email"),
        "alice@wonderland.example",
        what="the email after the change",
        hint="a cached row whose version is below the floor is stale: load it again.",
    )
    expect_equal(
        "4.2",
        (cache.get("alice") or {}).get("version"),
        2,
        what="the cached version after reloading v2",
        hint="put the reloaded row in the cache, or every later read loads it again.",
    )
    loads.clear()
    read(" again, its cached v2 at the floor 2")
    expect_equal(
        "4.2",
        loads,
        [],
        what="the calls to load() for an entry whose version equals the floor",
        hint="an entry AT the floor is fresh: reload only when its version is below it (<, not <=).",
    )

    cache["alice"] = {"user_id": "alice", "email": "alice@example.org", "version": 1}  # a slow reader, too late
    got = read(" after a late write of v1")
    expect_equal(
        "4.2",
        (got or {}).get("version"),
        2,
        what="the version served after a stale entry was cached late",
        hint="compare the entry's version with the floor every time you read the cache.",
    )

    renamed = users.EmailUpdated("alice", email="alice@hargreaves.example").replace(version=3)
    rows["alice"] = {"user_id": "alice", "email": "alice@hargreaves.example", "version": 3}
    feed_in(renamed, "EmailUpdated v3, a later change")
    expect_equal(
        "4.2",
        floors.get("alice"),
        3,
        what="floors['alice'] after a later EmailUpdated v3",
        hint="the floor must rise with every newer version (max(old, new)), not be set once "
        "(setdefault keeps the first).",
    )
    got = read(" after EmailUpdated v3")
    expect_equal(
        "4.2",
        (got or {}).get("email"),
        "alice@hargreaves.example",
        what="the email after the second change",
        hint="every newer version makes the cached row stale again.",
    )

    feed_in(
        users.UserCreated("bob", "Bob", "Builder", "bob@example.org").replace(version=1),
        "UserCreated v1 for bob, whom nobody read yet",
    )
    missing = read(user="nobody")
    expect_equal("4.2", missing, None, what="the answer for an unknown user", hint="load() returns None: return None.")
    expect("4.2", "nobody" not in cache or cache["nobody"] is None, "don't cache a miss as if it were a user.")
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
        self.store, self.late, self.appended = store, late, False
        self.reads: list[tuple[int, int]] = []  # (after, limit) of each read_all()
        self.returned: list[int] = []  # the last position of each chunk handed out (0 for an empty one)

    async def read_all(self, after: int = 0, limit: int = 1000) -> list[Recorded]:
        self.reads.append((after, limit))
        chunk = await self.store.read_all(after=after, limit=limit)
        if chunk and not self.appended and chunk[-1].position == await self.store.head():
            self.appended = True  # a write arrives just as the rebuild reaches the end
            await self.store.append(self.late.aggregate_id, [self.late], expected_version=0)
        self.returned.append(chunk[-1].position if chunk else 0)
        return chunk

    async def head(self) -> int:
        return await self.store.head()


def _rebuild_crash(exc: BaseException) -> str:
    text = str(exc)
    if "apply" in text or isinstance(exc, TypeError) and "positional argument" in text:
        return "the view is updated with view.apply(record.event, record.position)"
    if isinstance(exc, AttributeError) and "Recorded" in text:
        return "each record is Recorded(position, event): record.event is the event, record.position its place"
    if isinstance(exc, IndexError):
        return "read_all() returns [] once nothing is left: stop there, before looking at chunk[-1]"
    return "read with `await store.read_all(after=..., limit=batch)`"


@check("4.3")
async def check_rebuild(rebuild: Callable[..., Any]) -> str:
    memory = MemoryEventStore()
    for i in range(25):
        await memory.append(f"u{i}", [users.UserCreated(f"u{i}", "U", str(i), f"u{i}@example.org")], 0)
        if i % 3 == 0:
            await memory.append(f"u{i}", [users.UserActivated(f"u{i}")], 1)
    start = await memory.head()
    store = _WatchedStore(memory, users.UserCreated("late", "Late", "Comer", "late@example.org"))
    view = _View()
    got = await acall(
        "4.3",
        rebuild,
        store,
        view,
        10,
        shown=f"await rebuild(store, view, batch=10) on {start} events",
        hint=_rebuild_crash,
    )
    expect("4.3", store.reads, "rebuild() never called store.read_all(): read the feed from position 0.")
    expect(
        "4.3",
        all(limit <= 10 for _, limit in store.reads),
        f"read_all() was asked for more than `batch` events at once ({store.reads[:3]}…): pass limit=batch.",
    )
    expect_equal("4.3", store.reads[0][0], 0, what="the first read's `after`", hint="a rebuild starts at position 0.")
    for (after, _), previous in zip(store.reads[1:], store.returned):
        if previous and after != previous:
            fail(
                "4.3",
                f"a read returned up to position {previous}, and the next asked for after={after}: "
                "`after` is the last position you applied (read_all(after=p) starts at p + 1)"
                + (" — +1 skips an event per batch." if after == previous + 1 else "."),
            )
    head = await memory.head()
    if len(store.reads) == 1 and view.position < head:
        fail(
            "4.3",
            f"rebuild() read once ({store.returned[0]} of {start} events) and stopped: read_all() gives at "
            "most `limit` events per call — keep reading, after the last position, until it returns [].",
        )
    if view.position < head and store.returned and store.returned[-1] != 0:
        fail(
            "4.3",
            f"rebuild() stopped at position {view.position} after a read that still returned events: "
            f"event {head} was appended during the rebuild — stop only when read_all() returns [] "
            "(a short batch is not the end, nor is the head you saw at the start).",
        )
    expect_equal(
        "4.3",
        view.position,
        head,
        what="the view's position at the end",
        hint=f"keep reading until read_all() returns nothing — the event appended during the rebuild "
        f"(position {head}) must be in the new view too.",
    )
    expect_equal("4.3", view.statuses.get("late"), "inactive", what="the user created during the rebuild")
    expect_equal(
        "4.3",
        len(view.statuses),
        26,
        what="the number of users in the rebuilt view",
        hint="apply every record of every batch, in order.",
    )
    expect_equal("4.3", got, head, what="rebuild()'s result", hint="return the last position applied.")
    return f"{head} events in batches of 10, including one appended while it ran"
