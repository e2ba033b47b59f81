"""The read API's cache in Redis — the course's "aggressive cache", made safe by events.

A cached user is stored with the stream ``version`` it shows. Every event about a
user raises that user's **floor** (``…:min`` = the newest version seen in the
feed), written by a small projector (:class:`CacheInvalidation`). A cached
entry below its floor is never served, so a stale entry is harmless, and it no
longer matters who wins the classic race (a reader caching an old row just
after the invalidation): the floor, not a delete, decides.

    hit = await cache.get("u1")                    # None: miss, or stale
    await cache.put(row)                           # after reading PostgreSQL
"""

from __future__ import annotations

import json
from typing import Any

from workshop.store import Recorded

TTL = 60  # seconds a cached user lives; the floor lives twice as long, so it always outlives the entry


class UserCache:
    def __init__(self, redis: Any, namespace: Any, ttl: int = TTL) -> None:
        self.redis, self.ns, self.ttl = redis, namespace, ttl
        self.hits = self.misses = self.stale = 0

    def body_key(self, user_id: str) -> str:
        return self.ns.key("cqrs", "cache", "user", user_id)

    def floor_key(self, user_id: str) -> str:
        return self.ns.key("cqrs", "cache", "user", user_id, "min")

    async def get(self, user_id: str) -> dict | None:
        body, floor = await self.redis.mget(self.body_key(user_id), self.floor_key(user_id))
        if body is None:
            self.misses += 1
            return None
        row = json.loads(body)
        if row["version"] < int(floor or 0):
            self.stale += 1  # an event changed this user since the entry was cached
            return None
        self.hits += 1
        return row

    async def put(self, row: dict) -> None:
        await self.redis.set(self.body_key(row["user_id"]), json.dumps(row), ex=self.ttl)


class CacheInvalidation:
    """A Redis projection: for each user in a batch, raise the cache floor to its newest version."""

    types = frozenset({"UserCreated", "EmailUpdated", "UserActivated", "UserDeleted"})

    def __init__(self, name: str = "cache", ttl: int = TTL) -> None:
        self.name, self.ttl = name, ttl

    async def read(self, redis: Any, ns: Any, records: list[Recorded]) -> dict:
        return {}  # a floor only goes up: nothing to read first

    def write(self, ns: Any, records: list[Recorded], _: dict) -> list[list[str]]:
        newest: dict[str, int] = {}
        for r in records:
            newest[r.event.aggregate_id] = max(newest.get(r.event.aggregate_id, 0), r.event.version)
        cache = UserCache(None, ns)
        return [["SET", cache.floor_key(uid), str(version), "EX", str(2 * self.ttl)] for uid, version in newest.items()]
