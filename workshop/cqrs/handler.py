"""The write side: a command in, events appended, the new version and feed position out.

Every command goes through the same four steps::

    history = await store.read(user_id)              # 1. load the aggregate
    events  = users.decide(command, fold(history))   # 2. decide (pure; may refuse)
    version, position = await store.append_at(user_id, events, expected_version=len(history))  # 3. append
    return Accepted(version, position)               # 4. answer (append_at: where it landed, same round trip)

What it does *not* do is publish: the event store's global feed is the
publication. A relay follows the feed to the bus (``relay.py``), so there is
no moment where an event is stored but not published (the course's dual write).

* **A new user** skips the load: ``CreateUser`` appends at expected version 0 at once,
  and only if the stream turns out to exist does the handler load it and decide again.
* **Concurrency**: if another writer appended first, ``ConcurrencyError``; the
  handler reloads and decides again (``store.retry.on_conflict`` with
  :class:`~workshop.store.retry.ConflictRetry`'s backoff, the loop of chapter 3's
  ``store.retry.execute``), because the decision may change.
* **Idempotency**: the events carry the command's id as ``causation_id``. A
  repeated command finds its own events in the stream and gets the first
  answer back (``duplicate=True``) — whether it arrives a minute later or races itself.
  Another command under the same id is refused (409): deciding it again must give the same events.
* **Cross-stream rules** (one account per email) go through ``emails``, a
  :class:`~workshop.cqrs.uniqueness.EmailReservations` (or, to see the race, a ``ReadModelCheck``).
"""

from __future__ import annotations

from dataclasses import dataclass

from workshop import users
from workshop.cqrs.commands import ChangeEmail, Command, CreateUser, DeleteUser
from workshop.cqrs.uniqueness import EmailClaims, EmailTaken
from workshop.errors import WorkshopError
from workshop.events import Event
from workshop.store import ConcurrencyError, EventStore
from workshop.store.retry import ConflictRetry, on_conflict


class CommandRejected(WorkshopError):
    """The command is not allowed in the aggregate's current state; ``status`` is the HTTP code to answer with."""

    def __init__(self, status: int, reason: str) -> None:
        self.status, self.reason = status, reason
        super().__init__(reason)


@dataclass(frozen=True)
class Accepted:
    """What a client gets back: where its events landed."""

    user_id: str
    version: int  # the stream's version after the command
    position: int  # the global feed position of the command's last event: wait for it on the read side
    events: int = 0  # how many events this command appended (0: nothing changed, or a duplicate)
    duplicate: bool = False  # the same command_id was handled before: this is the first answer again
    command_id: str = ""


class CommandHandler:
    """Load, decide, append — with retries on conflicts, idempotency and email claims."""

    def __init__(
        self, store: EventStore, *, emails: EmailClaims | None = None, retry: ConflictRetry = ConflictRetry()
    ) -> None:
        self.store, self.emails, self.retry = store, emails, retry
        self.stats = {"accepted": 0, "duplicates": 0, "rejected": 0, "conflicts_retried": 0}

    async def handle(self, command: Command) -> Accepted:
        try:
            return await on_conflict(self.retry, lambda n: self._attempt(command, n), self._count_retry)
        except ConcurrencyError:
            self.stats["rejected"] += 1
            raise CommandRejected(409, f"user {command.user_id!r} kept changing under us; try again") from None

    def _count_retry(self) -> None:
        self.stats["conflicts_retried"] += 1

    async def _attempt(self, command: Command, n: int) -> Accepted:
        """One load → decide → append; a ConcurrencyError means someone appended meanwhile."""
        if n == 1 and isinstance(command, CreateUser):
            # a new user's stream is empty: decide on nothing and append at version 0 straight away
            # (one round trip fewer); if the stream exists after all, the append says so and we load
            try:
                return await self._decide_and_append(command, [])
            except ConcurrencyError:
                pass
        return await self._decide_and_append(command, await self.store.read(command.user_id))

    async def _decide_and_append(self, command: Command, history: list[Event]) -> Accepted:
        version = history[-1].version if history else 0
        earlier = [e for e in history if e.causation_id == command.command_id]
        if earlier:  # the same command again: answer as the first time, change nothing
            self._same_command(command, history, earlier)
            self.stats["duplicates"] += 1
            return await self._accepted(command, earlier[-1].version, 0, duplicate=True)
        state = users.fold(history)
        events = self._decide(command, state)
        if not events:  # nothing to change (e.g. activating an active user)
            return await self._accepted(command, version, 0)
        new_version, position = await self._append(command, state, events, version)
        self.stats["accepted"] += 1
        return Accepted(command.user_id, new_version, position, len(events), False, command.command_id)

    def _same_command(self, command: Command, history: list[Event], earlier: list[Event]) -> None:
        """A ``command_id`` seen before must come with the same command: decided again, it gives the same events.

        Another command under a used id is a client's mistake, not a retry: **409**, nothing happens.
        (The id is remembered in the user's stream: under another user it is another command.)
        """
        before = users.fold(e for e in history if e.version < earlier[0].version)
        try:
            again = users.decide(command.to_domain(), before)
        except users.UserError:
            again = []
        if [(e.event_type, e.data) for e in again] != [(e.event_type, e.data) for e in earlier]:
            self.stats["rejected"] += 1
            raise CommandRejected(
                409,
                f"the command id (Idempotency-Key) {command.command_id[:40]!r} was already "
                f"used for another command on user {command.user_id!r}; use a new key",
            )

    def _decide(self, command: Command, state: dict) -> list[Event]:
        try:
            events = users.decide(command.to_domain(), state)
        except users.UserError as exc:
            self.stats["rejected"] += 1
            raise CommandRejected(404 if not state and not isinstance(command, CreateUser) else 409, str(exc)) from None
        # the command's id travels with its events: causation (this command) and correlation (its conversation)
        return [e.replace(causation_id=command.command_id, correlation_id=command.command_id) for e in events]

    async def _append(self, command: Command, state: dict, events: list[Event], version: int) -> tuple[int, int]:
        """Append with the expected version, claiming a new email and giving an old one back.

        When the claims live in the event store's database, they ride in the append's transaction
        (one round trip; a failed append undoes the claim). Otherwise: claim first, append, give the
        claim back if the append fails, then release the old address.
        """
        new_email = command.email.lower() if isinstance(command, (CreateUser, ChangeEmail)) else None
        old_email = (state.get("email") or "").lower() or None
        release = old_email if old_email != new_email and (new_email or isinstance(command, DeleteUser)) else None
        emails = self.emails
        if emails is not None and (new_email or release) and emails.joins(self.store):
            claims = emails.statements(claim=new_email, release=release, user_id=command.user_id)
            try:
                return await self.store.append_at(command.user_id, events, expected_version=version, first=claims)
            except Exception as exc:
                if new_email is None or (taken := emails.taken(exc, new_email)) is None:
                    raise
                self.stats["rejected"] += 1
                raise CommandRejected(409, str(taken)) from None
        claimed = False
        if new_email and emails is not None:
            try:
                claimed = await emails.claim(new_email, command.user_id)
            except EmailTaken as exc:
                self.stats["rejected"] += 1
                raise CommandRejected(409, str(exc)) from None
        try:  # the new version and its feed position, in one round trip
            new_version, position = await self.store.append_at(command.user_id, events, expected_version=version)
        except BaseException:
            if claimed and emails is not None and new_email:
                await emails.release(new_email, command.user_id)
            raise
        if emails is not None and release:
            await emails.release(release, command.user_id)  # the old address is free again
        return new_version, position

    async def _accepted(self, command: Command, version: int, appended: int, duplicate: bool = False) -> Accepted:
        position = await self.store.position(command.user_id, version)
        return Accepted(command.user_id, version, position, appended, duplicate, command.command_id)
