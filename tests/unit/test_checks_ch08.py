"""Chapter 8's checks: pass on the solution; 'not done' on the stub; one hint per wrong answer; one line on a crash."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from workshop.checks import ExerciseCrashed, ExerciseFailed, ExerciseNotDone, ch08
from workshop.waiting import until

# --- the solutions (as in solutions/08_replicas.ipynb) -----------------------------------------


async def wait_for_position(replica, position, timeout=5.0):
    async def there():
        head = await replica.head()
        return head if head >= position else None

    return await until(there, timeout=timeout, every=0.01, what=f"the replica to replay position {position}")


def audit_feed(acknowledged, feed):
    counts = Counter(r.event.event_id for r in feed)
    gaps, previous = [], 0
    for r in sorted(feed, key=lambda r: r.position):
        if r.position != previous + 1:
            gaps.append((previous, r.position))
        previous = r.position
    return {
        "lost": sorted({e for e in acknowledged if e not in counts}),
        "doubled": sorted(e for e, n in counts.items() if n > 1),
        "gaps": gaps,
    }


async def stub(*args, **kwargs):
    raise NotImplementedError("Exercise 8.1: Read your writes from a replica")


def sync_stub(*args, **kwargs):
    raise NotImplementedError("Exercise 8.2: The invariant checker")


# --- plausible wrong answers, one per kind of mistake -----------------------------------------


async def no_wait(replica, position, timeout=5.0):  # reads the replica as it is now
    return await replica.head()


async def no_deadline(replica, position, timeout=5.0):  # waits forever
    while await replica.head() < position:
        await asyncio.sleep(0.01)
    return await replica.head()


async def strictly_past(replica, position, timeout=5.0):  # > instead of >=
    async def there():
        head = await replica.head()
        return head if head > position else None

    return await until(there, timeout=timeout, every=0.01)


async def answers_anyway(replica, position, timeout=5.0):  # swallows the timeout, returns an older state
    try:
        return await wait_for_position(replica, position, timeout)
    except TimeoutError:
        return await replica.head()


async def returns_bool(replica, position, timeout=5.0):  # the condition, not the head
    return bool(await wait_for_position(replica, position, timeout))


async def crashes(replica, position, timeout=5.0):
    return (await replica.head()) // (position - position)  # ZeroDivisionError


def lost_counts_doubles(acknowledged, feed):  # a doubled event counted as lost too
    got = audit_feed(acknowledged, feed)
    counts = Counter(r.event.event_id for r in feed)
    return {**got, "lost": sorted({*got["lost"], *(e for e, n in counts.items() if n > 1)})}


def gaps_from_first(acknowledged, feed):  # forgets that the feed starts at 1
    got = audit_feed(acknowledged, feed)
    return {**got, "gaps": [g for g in got["gaps"] if g[0] != 0]}


def unsorted_gaps(acknowledged, feed):  # trusts the feed's order
    gaps, previous = [], 0
    for r in feed:
        if r.position != previous + 1:
            gaps.append((previous, r.position))
        previous = r.position
    return {**audit_feed(acknowledged, feed), "gaps": gaps}


def lost_with_repeats(acknowledged, feed):  # a retried id reported twice... or not at all
    ids = {r.event.event_id for r in feed}
    return {
        **audit_feed(acknowledged, feed),
        "lost": [e for e in acknowledged if e not in ids],
        "doubled": [e for e in acknowledged if acknowledged.count(e) > 1],
    }


def no_keys(acknowledged, feed):
    return [len(acknowledged), len(feed)]


def audit_crashes(acknowledged, feed):
    return {"lost": [e for e in acknowledged if e not in feed[0].event_ids]}


# --- 8.1 ------------------------------------------------------------------------------------------


async def test_8_1_passes_on_the_solution(capsys):
    await ch08.check_wait_for_position(wait_for_position)
    assert "✅ Exercise 8.1 passed" in capsys.readouterr().out


async def test_8_1_stub_is_not_done():
    with pytest.raises(ExerciseNotDone):
        await ch08.check_wait_for_position(stub)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (no_wait, "before the replica had position 6"),
        (no_deadline, "every wait needs a deadline"),
        (strictly_past, "compare with >="),
        (answers_anyway, "raise TimeoutError"),
        (returns_bool, "return the replica's head"),
    ],
)
async def test_8_1_wrong_answers_get_a_hint(wrong, words):
    with pytest.raises(ExerciseFailed) as err:
        await ch08.check_wait_for_position(wrong)
    assert words in str(err.value) and "\n" not in str(err.value)
    assert not isinstance(err.value, ExerciseNotDone)


async def test_8_1_a_crash_is_one_line():
    with pytest.raises(ExerciseCrashed) as err:
        await ch08.check_wait_for_position(crashes)
    assert "ZeroDivisionError" in str(err.value) and "wait_for_position(<replica at 5>, 3, timeout=2)" in str(err.value)
    assert "\n" not in str(err.value)


# --- 8.2 ------------------------------------------------------------------------------------------


def test_8_2_passes_on_the_solution(capsys):
    ch08.check_audit_feed(audit_feed)
    assert "✅ Exercise 8.2 passed" in capsys.readouterr().out


def test_8_2_stub_is_not_done():
    with pytest.raises(ExerciseNotDone):
        ch08.check_audit_feed(sync_stub)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lost_counts_doubles, "doubled, not lost"),
        (gaps_from_first, "the feed starts after 0"),
        (unsorted_gaps, "sort it by position first"),
        (lost_with_repeats, "count the feed, not the acknowledgements"),
        (no_keys, "return {'lost'"),
    ],
)
def test_8_2_wrong_answers_get_a_hint(wrong, words):
    with pytest.raises(ExerciseFailed) as err:
        ch08.check_audit_feed(wrong)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_8_2_a_crash_is_one_line():
    with pytest.raises(ExerciseCrashed) as err:
        ch08.check_audit_feed(audit_crashes)
    assert "AttributeError" in str(err.value) and "\n" not in str(err.value)
