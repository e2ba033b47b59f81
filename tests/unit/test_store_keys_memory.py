"""The key-store contract (``tests/keystore_contract.py``) on MemoryKeyStore."""

import pytest

from tests.keystore_contract import KeyStoreContract
from workshop.store.crypto import MemoryKeyStore


@pytest.fixture
def keys():
    return MemoryKeyStore()


class TestMemoryKeyStore(KeyStoreContract):
    pass
