import pytest

from workshop.waiting import WaitTimeout, until


async def test_returns_the_first_truthy_value_of_a_plain_or_async_probe():
    calls = []

    def probe():
        calls.append(1)
        return len(calls) if len(calls) >= 3 else None

    assert await until(probe, every=0.001) == 3

    async def aprobe():
        return ["done"]

    assert await until(aprobe) == ["done"]


async def test_gives_up_with_a_message_naming_what_never_happened():
    with pytest.raises(WaitTimeout, match=r"waited 0.05 s for the reply, but it did not happen"):
        await until(lambda: False, timeout=0.05, every=0.01, what="the reply")
