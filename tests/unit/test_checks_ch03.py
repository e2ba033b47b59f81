"""Chapter 3's checks: pass on the solution, 'not done' on the stub, a hint on a plausible wrong answer."""

from itertools import takewhile

import pytest

from workshop import users
from workshop.checks import ExerciseFailed, ExerciseNotDone, ch03
from workshop.store import ConcurrencyError
from workshop.store.aggregate import fold


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise 3.x")


async def async_stub(*args, **kwargs):
    raise NotImplementedError("Exercise 3.x")


# --- the solutions (as in solutions/03_event_sourcing_practice.ipynb) ----------------------


def evolve_renamed(state, event):
    if event.event_type == "UserRenamed":
        return {**state, "name": f"{event.data['first_name']} {event.data['last_name']}".strip()}
    return users.evolve(state, event)


def state_as_of(events, when, evolve):
    return fold(evolve, takewhile(lambda e: e.when <= when, events))


def upcast_v1(data):
    first, _, last = data["name"].partition(" ")
    return {k: v for k, v in data.items() if k != "name"} | {"first_name": first, "last_name": last}


def should_snapshot(old_version, new_version):
    return new_version // 100 > old_version // 100


async def append_with_retry(store, stream_id, decide, evolve, attempts=5):
    for attempt in range(attempts):
        events = await store.read(stream_id)
        state = fold(evolve, events)
        version = events[-1].version if events else 0
        try:
            return await store.append(stream_id, decide(state), expected_version=version)
        except ConcurrencyError:
            if attempt == attempts - 1:
                raise


# --- plausible wrong answers ----------------------------------------------------------------


def evolve_mutating(state, event):
    if event.event_type == "UserRenamed":
        state["name"] = f"{event.data['first_name']} {event.data['last_name']}"
        return state
    return users.evolve(state, event)


def state_as_of_exclusive(events, when, evolve):
    return fold(evolve, [e for e in events if e.when < when])


def upcast_last_word(data):
    parts = data["name"].split()
    return {"email": data["email"], "first_name": parts[0], "last_name": parts[-1] if len(parts) > 1 else ""}


def snapshot_on_multiples(old_version, new_version):
    return new_version % 100 == 0


async def retry_same_version(store, stream_id, decide, evolve, attempts=5):
    events = await store.read(stream_id)
    state, version = fold(evolve, events), len(events)
    for attempt in range(attempts):
        try:
            return await store.append(stream_id, decide(state), expected_version=version)
        except ConcurrencyError:
            if attempt == attempts - 1:
                raise


async def append_blindly(store, stream_id, decide, evolve, attempts=5):
    state = fold(evolve, await store.read(stream_id))
    return await store.append(stream_id, decide(state), expected_version=None)


SYNC = [
    (ch03.check_evolve_renamed, evolve_renamed, evolve_mutating, "changed the state it was given"),
    (ch03.check_state_as_of, state_as_of, state_as_of_exclusive, "exactly at `when` counts"),
    (ch03.check_upcaster, upcast_v1, upcast_last_word, "first space only"),
    (ch03.check_snapshot_policy, should_snapshot, snapshot_on_multiples, "jump over a multiple of 100"),
]


@pytest.mark.parametrize("check,solution,wrong,hint", SYNC, ids=[c[0].exercise_id for c in SYNC])
def test_sync_checks(check, solution, wrong, hint, capsys):
    check(solution)
    assert f"✅ Exercise {check.exercise_id} passed" in capsys.readouterr().out
    with pytest.raises(ExerciseNotDone, match=f"Exercise {check.exercise_id} is not done yet"):
        check(stub)
    with pytest.raises(ExerciseFailed, match=hint) as info:
        check(wrong)
    assert not isinstance(info.value, ExerciseNotDone)


async def test_retry_check(capsys):
    await ch03.check_append_with_retry(append_with_retry)
    assert "✅ Exercise 3.5 passed" in capsys.readouterr().out
    with pytest.raises(ExerciseNotDone, match="Exercise 3.5"):
        await ch03.check_append_with_retry(async_stub)
    with pytest.raises(ExerciseFailed, match="load the stream again"):
        await ch03.check_append_with_retry(retry_same_version)
    with pytest.raises(ExerciseFailed, match="Both rivals' events and yours"):
        await ch03.check_append_with_retry(append_blindly)
    with pytest.raises(ExerciseFailed, match=r"made 11 attempts and returned: give up after `attempts` tries"):
        await ch03.check_append_with_retry(retry_for_ever)


async def retry_for_ever(store, stream_id, decide, evolve, attempts=5):
    """Wrong: ignores `attempts` — a busy stream keeps it looping."""
    while True:
        events = await store.read(stream_id)
        try:
            return await store.append(stream_id, decide(fold(evolve, events)), expected_version=len(events))
        except ConcurrencyError:
            continue


def snapshot_true_division(old_version, new_version):
    """Wrong: / instead of //: a float comparison that is true for every append."""
    return new_version / 100 > old_version / 100


def test_a_true_division_snapshot_policy_is_named():
    with pytest.raises(ExerciseFailed, match=r"/ gives a float .* with //"):
        ch03.check_snapshot_policy(snapshot_true_division)


# --- one wrong answer per mistake class of docs/exercises.md ----------------------------------


def evolve_ignores_rename(state, event):
    return users.evolve(state, event)


def evolve_only_rename(state, event):  # forgets to hand the other events on
    if event.event_type == "UserRenamed":
        return {**state, "name": f"{event.data['first_name']} {event.data['last_name']}"}
    return dict(state)


def state_as_of_everything(events, when, evolve):  # ignores `when`
    return fold(evolve, events)


def upcast_keeps_name(data):
    first, _, last = data["name"].partition(" ")
    return {**data, "first_name": first, "last_name": last}


def upcast_in_place(data):
    first, _, last = data.pop("name").partition(" ")
    data.update(first_name=first, last_name=last)
    return data


def upcast_two_words_only(data):  # crashes on "Cher": not enough values to unpack
    first, last = data["name"].split(" ", 1)
    return {"email": data["email"], "first_name": first, "last_name": last}


@pytest.mark.parametrize(
    "check, wrong, hint",
    [
        (ch03.check_evolve_renamed, evolve_ignores_rename, "Join first_name and last_name"),
        (ch03.check_evolve_renamed, evolve_only_rename, "hand over to users.evolve"),
        (ch03.check_state_as_of, state_as_of_everything, "before the first event there is no user yet"),
        (ch03.check_upcaster, upcast_keeps_name, "v2 has no 'name' field"),
        (ch03.check_upcaster, upcast_in_place, "changed the dict it was given"),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_each_mistake_class_gets_its_hint(check, wrong, hint):
    with pytest.raises(ExerciseFailed, match=hint) as info:
        check(wrong)
    assert "\n" not in str(info.value)


def test_a_one_word_name_crash_names_the_input():
    from tests.one_line import assert_one_line

    with pytest.raises(ExerciseFailed) as info:
        ch03.check_upcaster(upcast_two_words_only)
    assert_one_line(
        info.value, "3.3", "upcast_two_words_only({'name': 'Cher'", "ValueError", "a name can be a single word"
    )
