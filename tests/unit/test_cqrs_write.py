"""The write side on the memory store: validation, decisions, idempotency, concurrency."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from workshop import users
from workshop.cqrs import ActivateUser, ChangeEmail, CommandHandler, CommandRejected, CreateUser, DeleteUser
from workshop.cqrs.commands import parse
from workshop.store import MemoryEventStore


def create(uid: str = "u1", email: str = "ada@example.org", **kw) -> CreateUser:
    return CreateUser(user_id=uid, first_name="Ada", last_name="Lovelace", email=email, **kw)


@pytest.fixture
def handler() -> CommandHandler:
    return CommandHandler(MemoryEventStore(validate=users.validate, upcasters=users.UPCASTERS))


@pytest.mark.parametrize(
    "bad",
    [
        {"user_id": "u1", "first_name": "", "last_name": "L", "email": "a@b.co"},
        {"user_id": "u1", "first_name": "A", "last_name": "L", "email": "not-an-address"},
        {"user_id": "", "first_name": "A", "last_name": "L", "email": "a@b.co"},
        {"user_id": "u 1", "first_name": "A", "last_name": "L", "email": "a@b.co"},
        {"user_id": "u1", "first_name": 7, "last_name": "L", "email": "a@b.co"},
        {"user_id": "u1", "first_name": "A", "last_name": "L", "email": "a@b.co", "admin": True},
    ],
)
def test_invalid_commands_are_refused_before_anything_happens(bad):
    with pytest.raises(ValidationError):
        CreateUser(**bad)


def test_parse_picks_the_command_by_type_and_emails_compare_in_lower_case():
    cmd = parse({"type": "ChangeEmail", "user_id": "u1", "email": "Ada@Example.ORG"})
    assert isinstance(cmd, ChangeEmail) and cmd.to_domain().email == "ada@example.org"
    with pytest.raises(ValidationError):
        parse({"type": "CreateUser", "user_id": "u1", "first_name": " Ada", "last_name": "L", "email": "a@b.co"})


async def test_a_command_becomes_events_with_version_and_position(handler):
    first = await handler.handle(create())
    second = await handler.handle(ActivateUser(user_id="u1"))
    assert (first.version, first.position, first.events) == (1, 1, 1)
    assert (second.version, second.position, second.events) == (2, 2, 1)
    stored = await handler.store.read("u1")
    assert [e.event_type for e in stored] == ["UserCreated", "UserActivated"]
    assert stored[0].causation_id == first.command_id  # the command travels with its events


async def test_the_same_command_twice_has_one_effect(handler):
    cmd = create()
    first, again = await handler.handle(cmd), await handler.handle(cmd)
    assert again.duplicate and (again.version, again.position, again.events) == (first.version, first.position, 0)
    assert len(await handler.store.read("u1")) == 1


async def test_the_same_command_racing_itself_has_one_effect(handler):
    await handler.handle(create())
    cmd = ChangeEmail(user_id="u1", email="ada@new.example")
    results = await asyncio.gather(*(handler.handle(cmd) for _ in range(5)))
    assert sum(r.events for r in results) == 1
    assert len(await handler.store.read("u1")) == 2


@pytest.mark.parametrize(
    "command, status",
    [
        (ActivateUser(user_id="nobody"), 404),
        (create(), 409),  # already exists
    ],
)
async def test_refusals_say_why_and_store_nothing(handler, command, status):
    await handler.handle(create())
    before = await handler.store.head()
    with pytest.raises(CommandRejected) as caught:
        await handler.handle(command)
    assert caught.value.status == status and caught.value.reason
    assert await handler.store.head() == before


async def test_a_deleted_user_takes_no_more_commands(handler):
    await handler.handle(create())
    await handler.handle(DeleteUser(user_id="u1"))
    with pytest.raises(CommandRejected, match="deleted"):
        await handler.handle(ActivateUser(user_id="u1"))


async def test_a_conflict_is_retried_with_a_fresh_decision(handler):
    await handler.handle(create())
    store = handler.store
    real_append, calls = store.append, []

    async def append_after_a_rival(stream_id, events, expected_version):
        if not calls:  # a rival changes the email first, between our read and our append
            calls.append(1)
            await real_append(stream_id, [users.EmailUpdated("u1", email="rival@example.org")], expected_version)
        return await real_append(stream_id, events, expected_version)

    store.append = append_after_a_rival
    result = await handler.handle(ActivateUser(user_id="u1"))
    assert result.version == 3 and handler.stats["conflicts_retried"] == 1
