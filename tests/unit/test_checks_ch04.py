"""Chapter 4's checks: pass on the solution; 'not done' on the stub; a hint on a wrong answer; one line on a crash."""

from __future__ import annotations

import pytest

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


def project_crashing(view, records):
    return {**view, "statuses": {r.event.aggregate_id: r.event.data["status"] for r in records}}


def test_the_solutions_pass(capsys):
    ch04.check_project(project)
    ch04.check_cache(cached_user, raise_floor)
    assert capsys.readouterr().out.count("✅ Exercise 4.") == 2


async def test_the_rebuild_solution_passes(capsys):
    await ch04.check_rebuild(rebuild)
    assert "✅ Exercise 4.3 passed" in capsys.readouterr().out


@pytest.mark.parametrize("run", [lambda: ch04.check_project(stub), lambda: ch04.check_cache(stub, stub),
                                 lambda: ch04.check_cache(cached_user, stub)])
def test_the_stubs_are_not_done(run):
    with pytest.raises(ExerciseNotDone):
        run()


async def test_the_rebuild_stub_is_not_done():
    with pytest.raises(ExerciseNotDone):
        await ch04.check_rebuild(async_stub)


def test_a_projection_without_its_checkpoint_is_caught():
    with pytest.raises(ExerciseFailed, match="redelivery|already"):
        ch04.check_project(project_without_checkpoint)


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
