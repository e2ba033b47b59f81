import pytest

from tests.store_contract import StoreContract
from workshop.store import MemoryEventStore


@pytest.fixture
def store():
    return MemoryEventStore()


class TestMemoryStore(StoreContract):
    pass
