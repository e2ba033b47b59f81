"""The write side on PostgreSQL: the unique-email race and its fix, one effect per command, positions."""

from __future__ import annotations

import asyncio

import pytest

from workshop.cqrs import ChangeEmail, CommandHandler, CommandRejected, CreateUser, DeleteUser, rebuild
from workshop.cqrs.projectors import PostgresProjector
from workshop.cqrs.readmodels import UsersTable
from workshop.cqrs.system import open_store
from workshop.cqrs.uniqueness import EmailReservations, ReadModelCheck

PAIRS = 10


def create(uid: str, email: str, **kw) -> CreateUser:
    return CreateUser(user_id=uid, first_name="Ada", last_name="Lovelace", email=email, **kw)


@pytest.fixture
async def store(ws_settings):
    s = await open_store(ws_settings, max_size=20)
    projector = await PostgresProjector(s, UsersTable()).setup()
    await rebuild.ensure_active(s.pool, s.schema, "users", "users_v1")
    s.users_projector = projector
    yield s
    await s.close()


async def race(handler: CommandHandler) -> dict[str, int]:
    """Two users per email, created at the same time: how many accounts does each email end up with?"""
    results = await asyncio.gather(
        *(handler.handle(create(f"{side}{i}", f"race{i}@example.org")) for i in range(PAIRS) for side in "ab"),
        return_exceptions=True,
    )
    for r in results:
        if isinstance(r, Exception) and not isinstance(r, CommandRejected):
            raise r
    per_email: dict[str, int] = {}
    for rec in await handler.store.read_all(limit=1000):
        email = rec.event.data["email"]
        per_email[email] = per_email.get(email, 0) + 1
    return per_email


async def test_checking_the_read_model_first_lets_duplicates_through(store):
    await store.users_projector.start(poll=0.01)  # a live read model, a few ms behind
    try:
        per_email = await race(CommandHandler(store, emails=ReadModelCheck(store.pool, store.schema)))
    finally:
        await store.users_projector.stop()
    assert max(per_email.values()) == 2  # both sides of a pair got in: the race, shown


async def test_email_reservations_let_exactly_one_claim_win(store):
    per_email = await race(CommandHandler(store, emails=EmailReservations(store.pool, store.schema)))
    assert sorted(per_email) == [f"race{i}@example.org" for i in range(PAIRS)]
    assert set(per_email.values()) == {1}


async def test_a_released_email_can_be_taken_again(store):
    handler = CommandHandler(store, emails=EmailReservations(store.pool, store.schema))
    await handler.handle(create("a", "one@example.org"))
    with pytest.raises(CommandRejected, match="already used"):
        await handler.handle(create("b", "one@example.org"))
    await handler.handle(ChangeEmail(user_id="a", email="two@example.org"))  # frees one@
    await handler.handle(create("b", "one@example.org"))
    await handler.handle(DeleteUser(user_id="a"))  # frees two@
    await handler.handle(create("c", "two@example.org"))
    with pytest.raises(CommandRejected):  # a failed append gives the claim back …
        await handler.handle(create("c", "three@example.org"))
    assert await handler.emails.owner("three@example.org") is None


async def test_the_same_command_sent_five_times_at_once_has_one_effect(store):
    handler = CommandHandler(store, emails=EmailReservations(store.pool, store.schema))
    cmd = create("once", "once@example.org")
    results = await asyncio.gather(*(handler.handle(cmd) for _ in range(5)))
    assert [r.events for r in results].count(1) == 1
    assert {(r.version, r.position) for r in results} == {(1, results[0].position)}
    assert len(await store.read("once")) == 1


async def test_the_answer_names_the_global_position_to_wait_for(store):
    handler = CommandHandler(store)
    first = await handler.handle(create("p1", "p1@example.org"))
    second = await handler.handle(create("p2", "p2@example.org"))
    assert (first.position, second.position) == (1, 2) == (1, await store.head())
    await store.users_projector.catch_up()
    assert await store.users_projector.position() >= second.position


async def test_four_processes_opening_the_store_at_once_create_the_tables_once(ws_settings):
    """Compose starts the relay, the projectors and both APIs together: each runs the CQRS set-up."""
    import asyncio

    from workshop.cqrs.system import open_store

    stores = await asyncio.gather(*(open_store(ws_settings, max_size=2) for _ in range(4)))
    try:
        assert len({s.schema for s in stores}) == 1
    finally:
        for store in stores:
            await store.close()


async def test_the_claim_rides_in_the_appends_transaction_and_takes_over_a_stale_one(store):
    emails = EmailReservations(store.pool, store.schema, stale_after=0.0)
    handler = CommandHandler(store, emails=emails)
    assert emails.joins(store) and not ReadModelCheck(store.pool, store.schema).joins(store)
    async with store.pool.connection() as conn:  # a claim whose process died before its append
        await conn.execute(
            f'INSERT INTO "{store.schema}".email_reservations (email, user_id) VALUES (%s, %s)',
            ("ghost@example.org", "ghost"),
        )
    await handler.handle(create("real", "Ghost@example.org"))  # taken over: the ghost never got created
    assert await emails.owner("ghost@example.org") == "real"
    with pytest.raises(CommandRejected, match="already used"):  # a live owner keeps it: nothing appended
        await handler.handle(create("late", "ghost@example.org"))
    assert await store.read("late") == [] and handler.stats["rejected"] == 1
