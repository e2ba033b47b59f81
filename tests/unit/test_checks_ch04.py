"""Chapter 4's checks: pass on the solution; 'not done' on the stub; a hint on a wrong answer; one line on a crash."""

from __future__ import annotations

import pytest

from tests.one_line import assert_one_line
from workshop.checks import ExerciseCrashed, ExerciseFailed, ExerciseNotDone, ch04

STATUS = {"UserCreated": "inactive", "UserActivated": "active", "UserDeleted": "deleted"}


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise 4.x")


async def async_stub(*args, **kwargs):
    raise NotImplementedError("Exercise 4.x")


# --- the solutions (as in solutions/04_cqrs.ipynb) -----------------------------------------


def project(view, records):
    position, statuses, skipped = view["position"], dict(view["statuses"]), view["skipped"]
    for record in records:
        if record.position <= position:
            continue
        status = STATUS.get(record.event.event_type)
        if status is None:
            skipped += 1
        else:
            statuses[record.event.aggregate_id] = status
        position = record.position
    return {"position": position, "statuses": statuses, "skipped": skipped}


def cached_user(cache, floors, user_id, load):
    entry = cache.get(user_id)
    if entry is not None and entry["version"] >= floors.get(user_id, 0):
        return entry
    row = load(user_id)
    if row is not None:
        cache[user_id] = row
    return row


def raise_floor(floors, event):
    floors[event.aggregate_id] = max(floors.get(event.aggregate_id, 0), event.version)


async def rebuild(store, view, batch=1000):
    position = 0
    while chunk := await store.read_all(after=position, limit=batch):
        for record in chunk:
            view.apply(record.event, record.position)
        position = chunk[-1].position
    return position


# --- plausible wrong answers ----------------------------------------------------------------


def project_without_checkpoint(view, records):  # applies a redelivery again: the counts would double
    statuses, skipped = dict(view["statuses"]), view["skipped"]
    for record in records:
        status = STATUS.get(record.event.event_type)
        if status is None:
            skipped += 1
        else:
            statuses[record.event.aggregate_id] = status
    return {"position": records[-1].position, "statuses": statuses, "skipped": skipped}


def cached_user_forever(cache, floors, user_id, load):  # the "aggressive cache": never stale, never right
    if user_id not in cache:
        cache[user_id] = load(user_id)
    return cache[user_id]


async def rebuild_to_the_head_seen_at_the_start(store, view, batch=1000):
    head, position = await store.head(), 0
    while position < head:
        chunk = await store.read_all(after=position, limit=batch)
        for record in chunk:
            view.apply(record.event, record.position)
        position = chunk[-1].position
    return position


def _project(view, records, *, skip=lambda pos, cp: pos <= cp, move_on_skip=True, keep_position=True):
    position, statuses, skipped = view["position"], dict(view["statuses"]), view["skipped"]
    for record in records:
        if skip(record.position, position):
            continue
        status = STATUS.get(record.event.event_type)
        if status is None:
            skipped += 1
            if move_on_skip:
                position = record.position
            continue
        statuses[record.event.aggregate_id] = status
        position = record.position
    if not keep_position and records:
        position = records[-1].position
    return {"position": position, "statuses": statuses, "skipped": skipped}


def project_backwards(view, records):  # the checkpoint follows the batch, even an old one
    return _project(view, records, keep_position=False)


def project_lt(view, records):  # `<`: the record AT the checkpoint is applied again
    return _project(view, records, skip=lambda pos, cp: pos < cp)


def project_stuck_on_unknown(view, records):  # the checkpoint does not move past a skipped record
    return _project(view, records, move_on_skip=False)


def project_unknown_crash(view, records):  # STATUS[type]: KeyError on NewsletterSubscribed
    position, statuses = view["position"], dict(view["statuses"])
    for record in records:
        if record.position > position:
            statuses[record.event.aggregate_id] = STATUS[record.event.event_type]
            position = record.position
    return {**view, "position": position, "statuses": statuses}


def project_empty_crash(view, records):  # records[-1] of an empty batch
    new = _project(view, records)
    return {**new, "position": max(new["position"], records[-1].position)}


def raise_floor_once(floors, event):  # setdefault: the first version seen stays the floor for ever
    floors.setdefault(event.aggregate_id, event.version)


def cached_user_strict(cache, floors, user_id, load):  # `<=`: an entry AT the floor counts as stale
    entry = cache.get(user_id)
    if entry is not None and entry["version"] > floors.get(user_id, 0):
        return entry
    row = load(user_id)
    if row is not None:
        cache[user_id] = row
    return row


def cached_user_never_refreshed(cache, floors, user_id, load):  # reloads but never stores the new row
    entry = cache.get(user_id)
    if entry is not None and entry["version"] >= floors.get(user_id, 0):
        return entry
    row = load(user_id)
    if row is not None and user_id not in cache:
        cache[user_id] = row
    return row


def cached_user_floor_keyerror(cache, floors, user_id, load):  # floors[user_id]: no floor before the first event
    entry = cache.get(user_id)
    if entry is not None and entry["version"] >= floors[user_id]:
        return entry
    row = load(user_id)
    if row is not None:
        cache[user_id] = row
    return row


async def rebuild_one_read(store, view, batch=1000):
    chunk = await store.read_all(after=0, limit=batch)
    for record in chunk:
        view.apply(record.event, record.position)
    return chunk[-1].position if chunk else 0


async def rebuild_plus_one(store, view, batch=1000):
    position = 0
    while chunk := await store.read_all(after=position, limit=batch):
        for record in chunk:
            view.apply(record.event, record.position)
        position = chunk[-1].position + 1
    return position - 1


async def rebuild_stops_on_a_short_batch(store, view, batch=1000):
    position = 0
    while True:
        chunk = await store.read_all(after=position, limit=batch)
        for record in chunk:
            view.apply(record.event, record.position)
        if chunk:
            position = chunk[-1].position
        if len(chunk) < batch:
            return position


async def rebuild_apply_record(store, view, batch=1000):
    position = 0
    while chunk := await store.read_all(after=position, limit=batch):
        for record in chunk:
            view.apply(record)
        position = chunk[-1].position
    return position


def project_crashing(view, records):
    return {**view, "statuses": {r.event.aggregate_id: r.event.data["status"] for r in records}}


def test_the_solutions_pass(capsys):
    ch04.check_project(project)
    ch04.check_cache(cached_user, raise_floor)
    assert capsys.readouterr().out.count("✅ Exercise 4.") == 2


async def test_the_rebuild_solution_passes(capsys):
    await ch04.check_rebuild(rebuild)
    assert "✅ Exercise 4.3 passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "run",
    [
        lambda: ch04.check_project(stub),
        lambda: ch04.check_cache(stub, stub),
        lambda: ch04.check_cache(cached_user, stub),
    ],
)
def test_the_stubs_are_not_done(run):
    with pytest.raises(ExerciseNotDone):
        run()


async def test_the_rebuild_stub_is_not_done():
    with pytest.raises(ExerciseNotDone):
        await ch04.check_rebuild(async_stub)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (project_without_checkpoint, "AT the checkpoint|redelivery|already"),
        (project_backwards, "a checkpoint never moves backwards"),
        (project_lt, r"record 4 is AT the checkpoint: .* not <"),
        (project_stuck_on_unknown, "a skipped record is handled too: move the checkpoint past it"),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_wrong_projections_are_caught(wrong, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        ch04.check_project(wrong)


@pytest.mark.parametrize(
    "wrong, parts",
    [
        (
            project_unknown_crash,
            [
                "project(view, all six records) raised KeyError: 'NewsletterSubscribed'",
                "an event type this view does not know: skip it",
            ],
        ),
        (project_empty_crash, ["project(view, an empty batch) raised IndexError", "a batch can be empty"]),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_projection_crashes_are_one_line_with_their_cause(wrong, parts):
    with pytest.raises(ExerciseCrashed) as caught:
        ch04.check_project(wrong)
    assert_one_line(caught.value, "4.1", *parts)


@pytest.mark.parametrize(
    "cached, floor, hint",
    [
        (cached_user, raise_floor_once, r"must rise with every newer version .*setdefault"),
        (cached_user_strict, raise_floor, r"an entry AT the floor is fresh.*<, not <="),
        (cached_user_never_refreshed, raise_floor, "put the reloaded row in the cache"),
    ],
    ids=["setdefault", "strict", "never-refreshed"],
)
def test_wrong_caches_are_caught(cached, floor, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        ch04.check_cache(cached, floor)


def test_a_missing_floor_crash_names_the_user_and_the_default():
    with pytest.raises(ExerciseCrashed) as caught:
        ch04.check_cache(cached_user_floor_keyerror, raise_floor)
    assert_one_line(
        caught.value,
        "4.2",
        "cached_user(cache, floors, 'alice', load) a second time raised KeyError: 'alice'",
        "floors.get(user_id, 0)",
    )


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (rebuild_one_read, r"read once \(10 of 34 events\) and stopped"),
        (rebuild_plus_one, r"next asked for after=11: .* \+1 skips an event per batch"),
        (rebuild_stops_on_a_short_batch, r"stopped at position 34 .* event 35 was appended during the rebuild"),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
async def test_wrong_rebuilds_are_caught(wrong, hint):
    with pytest.raises(ExerciseFailed, match=hint):
        await ch04.check_rebuild(wrong)


async def test_a_rebuild_crash_names_the_view_api():
    with pytest.raises(ExerciseCrashed) as caught:
        await ch04.check_rebuild(rebuild_apply_record)
    assert_one_line(
        caught.value,
        "4.3",
        "await rebuild(store, view, batch=10) on 34 events raised TypeError",
        "view.apply(record.event, record.position)",
    )


def test_a_cache_that_events_never_invalidate_is_caught():
    with pytest.raises(ExerciseFailed, match="stale|floor"):
        ch04.check_cache(cached_user_forever, raise_floor)


def test_a_floor_that_goes_down_is_caught():
    def raise_floor_to_last(floors, event):
        floors[event.aggregate_id] = event.version

    with pytest.raises(ExerciseFailed, match="never goes down"):
        ch04.check_cache(cached_user, raise_floor_to_last)


async def test_a_rebuild_that_stops_at_the_old_head_is_caught():
    with pytest.raises(ExerciseFailed, match="appended during the rebuild"):
        await ch04.check_rebuild(rebuild_to_the_head_seen_at_the_start)


def test_a_crash_in_learner_code_is_one_line_naming_the_call():
    with pytest.raises(ExerciseCrashed) as caught:
        ch04.check_project(project_crashing)
    message = str(caught.value)
    assert "project(view, all six records) raised KeyError" in message and "\n" not in message
