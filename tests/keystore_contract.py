"""One contract, every key store of crypto-shredding: memory and PostgreSQL run these tests.

A key store keeps one Fernet key per stream (``workshop/store/crypto.py``). Forgetting
a person means deleting their key, so the contract is about keys appearing once,
staying put, and being really gone after ``delete``.

A test module subclasses :class:`KeyStoreContract` and provides a ``keys`` fixture.
"""

from __future__ import annotations

import asyncio

from cryptography.fernet import Fernet

from workshop.events import Event
from workshop.store.crypto import MARK, REDACTED, Cipher, KeyStore

PERSONAL = {"ContractSignedUp": ("email",)}


class KeyStoreContract:
    async def test_it_is_a_key_store(self, keys):
        assert isinstance(keys, KeyStore)

    async def test_an_unknown_stream_has_no_key(self, keys):
        assert await keys.get("nobody") is None

    async def test_get_or_create_makes_one_key_and_keeps_it(self, keys):
        key = await keys.get_or_create("user-1")
        assert isinstance(key, bytes)
        Fernet(key)  # a usable Fernet key, not just any bytes
        assert await keys.get_or_create("user-1") == key
        assert await keys.get("user-1") == key

    async def test_each_stream_has_its_own_key(self, keys):
        assert await keys.get_or_create("user-1") != await keys.get_or_create("user-2")

    async def test_concurrent_writers_agree_on_one_key(self, keys):
        got = await asyncio.gather(*(keys.get_or_create("user-1") for _ in range(8)))
        assert len(set(got)) == 1
        assert await keys.get("user-1") == got[0]

    async def test_delete_forgets_only_that_stream(self, keys):
        first = await keys.get_or_create("user-1")
        other = await keys.get_or_create("user-2")
        await keys.delete("user-1")
        assert await keys.get("user-1") is None
        assert await keys.get("user-2") == other
        assert await keys.get_or_create("user-1") != first  # a new key: old ciphertext stays unreadable

    async def test_deleting_an_unknown_stream_is_harmless(self, keys):
        await keys.delete("nobody")
        await keys.delete("nobody")
        assert await keys.get("nobody") is None

    async def test_a_cipher_on_this_store_reads_back_then_redacts_after_delete(self, keys):
        cipher = Cipher(keys, PERSONAL)
        event = Event("ContractSignedUp", "user-1", {"email": "ada@example.com", "plan": "pro"})
        (stored,) = await cipher.encrypt_events("user-1", [event])
        assert set(stored.data["email"]) == {MARK} and stored.data["plan"] == "pro"
        assert "ada@example.com" not in stored.to_json()
        (read,) = await cipher.decrypt_events([stored])
        assert read.data == event.data
        await keys.delete("user-1")
        (forgotten,) = await cipher.decrypt_events([stored])
        assert forgotten.data == {"email": REDACTED, "plan": "pro"}
