import pytest

from workshop import users
from workshop.events import Event, EventFormatError, SchemaError
from workshop.store import MemoryEventStore
from workshop.users.model import UnknownEventWarning

COURSE = [
    Event("UserCreated", "user-1", {"name": "Alice", "email": "alice@example.com"}, version=1),
    Event("EmailUpdated", "user-1", {"email": "newemail@example.com"}, version=2),
    Event("UserActivated", "user-1", {}, version=3),
]


def upcast(events):
    return [users.UPCASTERS.upcast(e) for e in events]


def test_the_course_states_are_reproduced():
    assert users.fold(upcast(COURSE)) == {
        "id": "user-1",
        "name": "Alice",
        "email": "newemail@example.com",
        "status": "active",
    }
    assert users.fold(upcast(COURSE[:2]))["status"] == "inactive"


def test_evolve_also_accepts_a_v1_event_that_was_not_upcast():
    assert users.evolve({}, COURSE[0])["name"] == "Alice"


def test_evolve_never_mutates_the_previous_state():
    s1 = users.evolve({}, users.UPCASTERS.upcast(COURSE[0]))
    s2 = users.evolve(s1, COURSE[1])
    assert s1["email"] == "alice@example.com" and s2["email"] == "newemail@example.com"


def test_unknown_event_is_skipped_with_a_warning():
    state = users.fold(upcast(COURSE))
    with pytest.warns(UnknownEventWarning, match="UserRenamed"):
        assert users.evolve(state, Event("UserRenamed", "user-1", {})) == state


def test_v1_user_created_is_upcast_to_first_and_last_name():
    e = users.UPCASTERS.upcast(Event("UserCreated", "u", {"name": "Ada King Lovelace", "email": "ada@example.com"}))
    assert e.schema_version == 2
    assert e.data == {"email": "ada@example.com", "first_name": "Ada", "last_name": "King Lovelace"}
    assert users.UPCASTERS.upcast(e) is e  # current events pass through untouched


def test_bad_user_data_is_rejected():
    with pytest.raises(EventFormatError, match="email"):
        users.UserCreated("u", "Ada", "Lovelace", "not-an-address")
    with pytest.raises(SchemaError, match="^UserCreated v1: name: Field required$"):
        users.validate(Event("UserCreated", "u", {"email": "a@b.c"}))
    with pytest.raises(SchemaError, match="^UserCreated v2: first_name: Field required; last_name: Field required$"):
        users.validate(Event("UserCreated", "u", {"email": "a@b.c"}, schema_version=2))
    with pytest.raises(SchemaError, match="^UserDeleted v1: reason: Input should be a valid string$"):
        users.validate(Event("UserDeleted", "u", {"reason": 3}))
    with pytest.raises(SchemaError, match="^UserCreated v2: last_name: must not contain the NUL character"):
        users.UserCreated("u", "Ada", "Love\x00lace", "ada@example.com")
    with pytest.raises(SchemaError, match="^EmailUpdated v1: email: must not contain the NUL character"):
        users.validate(Event("EmailUpdated", "u", {"email": "ada@exa\x00mple.com"}))
    ticked = Event("Ticked", "u", {"i": 1})  # not a user event: a users store lets it through unchecked
    assert users.validate(ticked) is ticked


async def test_a_store_given_users_validate_rejects_bad_user_data_in_one_line():
    store = MemoryEventStore(validate=users.validate, upcasters=users.UPCASTERS)
    with pytest.raises(SchemaError) as info:
        await store.append("u", [Event("UserCreated", "u", {"name": "Ada", "email": "nope"})], expected_version=0)
    assert str(info.value) == "UserCreated v1: email: should be an address, got 'nope'"
    assert await store.version("u") == 0
    v1 = Event("UserCreated", "u", {"name": "Ada Lovelace", "email": "ada@example.com"})  # the course's shape
    assert await store.append("u", [v1], expected_version=0) == 1


def test_decide_enforces_the_rules():
    created = users.decide(users.CreateUser("u", "Ada", "Lovelace", "ada@example.com"), {})
    state = users.fold(created)
    assert state == {"id": "u", "name": "Ada Lovelace", "email": "ada@example.com", "status": "inactive"}
    with pytest.raises(users.UserError, match="already exists"):
        users.decide(users.CreateUser("u", "Ada", "Lovelace", "ada@example.com"), state)
    assert users.decide(users.ChangeEmail("u", "ada@example.com"), state) == []
    assert [e.event_type for e in users.decide(users.ActivateUser("u"), state)] == ["UserActivated"]
    deleted = users.fold(users.decide(users.DeleteUser("u"), state), state)
    assert deleted["status"] == "deleted"
    with pytest.raises(users.UserError, match="deleted"):
        users.decide(users.ChangeEmail("u", "x@example.com"), deleted)
    with pytest.raises(users.UserError, match="does not exist"):
        users.decide(users.ActivateUser("v"), {})


def test_view_drops_deleted_users():
    view = users.UsersView()
    for i, e in enumerate(
        upcast(COURSE)
        + [users.UserCreated("user-2", "Bob", "B", "bob@example.com"), users.UserDeleted("user-1", reason="gdpr")],
        1,
    ):
        view.apply(e, i)
    assert list(view.users) == ["user-2"] and view.deleted == {"user-1"} and view.position == 5
