"""Crypto-shredding: forgetting a person in a store that never deletes.

An append-only log and the right to erasure seem to clash. The way out: every
stream's personal fields are encrypted with **that stream's own key** (Fernet,
from ``cryptography``), and the keys live in a small, ordinary, deletable table.
To forget a user, delete their key. The events stay and still replay — the
personal fields just read as ``[redacted]``.

    cipher = Cipher(MemoryKeyStore(), users.PERSONAL_FIELDS)
    store = MemoryEventStore(cipher=cipher)
    await store.forget("user-1")        # deletes the key (and the snapshots)

What is *not* covered: copies made elsewhere (read models, logs, backups of the
key table, exports) — they need their own forgetting.
"""

from __future__ import annotations

import json
from typing import Any, Protocol, runtime_checkable

from cryptography.fernet import Fernet, InvalidToken

from workshop.events import Event

REDACTED = "[redacted]"
MARK = "$enc"  # an encrypted value is stored as {"$enc": "<Fernet token>"}


@runtime_checkable
class KeyStore(Protocol):
    """One key per stream; ``tests/keystore_contract.py`` is what every key store must do."""

    async def get(self, stream_id: str) -> bytes | None: ...
    async def get_or_create(self, stream_id: str) -> bytes: ...
    async def delete(self, stream_id: str) -> None: ...


class MemoryKeyStore:
    """Keys in a dict: for tests and notebooks."""

    def __init__(self) -> None:
        self._keys: dict[str, bytes] = {}

    async def get(self, stream_id: str) -> bytes | None:
        return self._keys.get(stream_id)

    async def get_or_create(self, stream_id: str) -> bytes:
        return self._keys.setdefault(stream_id, Fernet.generate_key())

    async def delete(self, stream_id: str) -> None:
        self._keys.pop(stream_id, None)


class PostgresKeyStore:
    """Keys in ``<schema>.stream_keys`` — a normal table: rows can be deleted."""

    def __init__(self, pool, schema: str) -> None:
        self.pool, self.table = pool, f'"{schema}".stream_keys'

    async def setup(self) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} ("
                "stream_id text PRIMARY KEY, key bytea NOT NULL, created_at timestamptz DEFAULT now())"
            )

    async def get(self, stream_id: str) -> bytes | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(f"SELECT key FROM {self.table} WHERE stream_id = %s", (stream_id,))
            row = await cur.fetchone()
        return None if row is None else bytes(row[0])

    async def get_or_create(self, stream_id: str) -> bytes:
        async with self.pool.connection() as conn:
            await conn.execute(
                f"INSERT INTO {self.table} (stream_id, key) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (stream_id, Fernet.generate_key()),
            )
        key = await self.get(stream_id)  # the winner's key if two writers raced
        if key is None:  # forgotten between the two statements: the stream starts a new key
            return await self.get_or_create(stream_id)
        return key

    async def delete(self, stream_id: str) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(f"DELETE FROM {self.table} WHERE stream_id = %s", (stream_id,))


class Cipher:
    """Encrypts the declared personal fields of each event type with the stream's key."""

    def __init__(self, keys: KeyStore, personal_fields: dict[str, tuple[str, ...]]) -> None:
        self.keys, self.personal_fields = keys, personal_fields

    async def encrypt_events(self, stream_id: str, events: list[Event]) -> list[Event]:
        if not any(f in e.data for e in events for f in self.personal_fields.get(e.event_type, ())):
            return events
        fernet = Fernet(await self.keys.get_or_create(stream_id))
        out = []
        for e in events:
            fields = self.personal_fields.get(e.event_type, ())
            data = {
                k: ({MARK: fernet.encrypt(json.dumps(v).encode()).decode()} if k in fields else v)
                for k, v in e.data.items()
            }
            out.append(e.replace(data=data) if fields else e)
        return out

    async def decrypt_events(self, events: list[Event]) -> list[Event]:
        fernets: dict[str, Fernet | None] = {}
        out = []
        for e in events:
            if not any(_encrypted(v) for v in e.data.values()):
                out.append(e)
                continue
            if e.aggregate_id not in fernets:
                key = await self.keys.get(e.aggregate_id)
                fernets[e.aggregate_id] = Fernet(key) if key else None
            fernet = fernets[e.aggregate_id]
            out.append(e.replace(data={k: _decrypt(fernet, v) if _encrypted(v) else v for k, v in e.data.items()}))
        return out


def _encrypted(value: Any) -> bool:
    return isinstance(value, dict) and MARK in value


def _decrypt(fernet: Fernet | None, value: dict) -> Any:
    """The plain value, or ``[redacted]`` when the key is gone (never an exception)."""
    if fernet is None:
        return REDACTED
    try:
        return json.loads(fernet.decrypt(value[MARK].encode()))
    except (InvalidToken, ValueError):
        return REDACTED
