"""Redis for a class: one ACL user per learner, limited to its key and channel prefixes.

``ws_alice`` may touch keys ``ws_alice:*`` and ``ws_alice_*`` (the notebooks'
child namespaces such as ``ws_alice_ch02:…``) and publish/subscribe on channels
with the same prefixes — nothing else. Commands in Redis' ``@dangerous`` category
(``KEYS``, ``FLUSHALL``, ``FLUSHDB``, ``CONFIG``, ``DEBUG``, ``MONITOR``, ``CLIENT
KILL``, ``SHUTDOWN``…) are refused, and so is all of ``@scripting`` (``EVAL``,
``EVALSHA``, ``SCRIPT``, ``FUNCTION``, ``FCALL``): a script runs inside the server's
one thread, and ``EVAL "while true do end" 0`` answers ``BUSY`` to every client
until an administrator's ``SCRIPT KILL``. No chapter runs a script. ``INFO`` stays
(the doctor reads the version) and the connection's own ``CLIENT SETNAME/SETINFO/GETNAME/ID``.

Memory is one pool for the whole server: :func:`open_doors` refuses a server
without ``maxmemory`` (a learner writing in a loop would take the machine's
memory). With ``maxmemory-policy noeviction`` a full server refuses writes
(``OOM``) and keeps every learner's data and its own life.

ACL users live in the server's memory: ``workshop classroom up`` sets them again,
so a Redis restart costs nothing but a re-run.
"""

from __future__ import annotations

import redis
from redis.exceptions import ResponseError

from workshop.classroom.learners import Learner

# Redis compares PSUBSCRIBE patterns *literally* with the ACL's channel patterns, so a
# pattern a chapter subscribes to must be granted as written: {child namespace: patterns}.
# (tests/unit/test_classroom_learners.py fails when a notebook subscribes to a pattern missing here)
PSUBSCRIBE = {
    "ch02": ("*_events",),
    "ex02": ("*_events",),  # notebooks/ and solutions/02_pubsub
    "chk21": ("*_events",),
}  # the check of exercise 2.1 (checks/ch02.py)
DENIED = ("-@dangerous", "-@scripting")
ALLOWED_BACK = ("+info", "+client|setname", "+client|getname", "+client|id", "+client|setinfo", "+client|info")


def rules(learner: Learner) -> list[str]:
    """The ``ACL SETUSER`` rules for this learner (without the optional extras in :data:`ALLOWED_BACK`)."""
    ns = learner.namespace
    literal = [f"&{ns.child(child).key(p)}" for child, patterns in PSUBSCRIBE.items() for p in patterns]
    return [
        "reset",
        "on",
        f">{learner.redis}",
        f"~{ns}:*",
        f"~{ns}_*",
        "resetchannels",
        f"&{ns}:*",
        f"&{ns}_*",
        *literal,
        "+@all",
        *DENIED,
    ]


def _client(admin_url: str) -> redis.Redis:
    return redis.Redis.from_url(admin_url, socket_connect_timeout=5, socket_timeout=10)


def add(admin_url: str, learner: Learner) -> None:
    """Create or reset the learner's ACL user (its keys are kept)."""
    r = _client(admin_url)
    try:
        r.execute_command("ACL", "SETUSER", learner.account, *rules(learner))
        for extra in ALLOWED_BACK:  # a subcommand this Redis version lacks is simply not granted
            try:
                r.execute_command("ACL", "SETUSER", learner.account, extra)
            except ResponseError:
                pass
    finally:
        r.close()


def reset(admin_url: str, learner: Learner) -> int:
    """Delete the learner's keys (both prefixes); returns how many."""
    r = _client(admin_url)
    try:
        count = 0
        for pattern in (f"{learner.account}:*", f"{learner.account}_*"):
            batch = list(r.scan_iter(match=pattern, count=500))
            for i in range(0, len(batch), 500):
                count += r.delete(*batch[i : i + 500])
        return count
    finally:
        r.close()


def remove(admin_url: str, learner: Learner) -> None:
    """Delete the learner's keys, disconnect it and delete its ACL user."""
    reset(admin_url, learner)
    r = _client(admin_url)
    try:
        r.execute_command("ACL", "DELUSER", learner.account)
        try:
            r.execute_command("CLIENT", "KILL", "USER", learner.account)
        except ResponseError:  # no such user connected
            pass
    finally:
        r.close()


def open_doors(admin_url: str) -> list[str]:
    """A learner could skip its own user if the ``default`` user needs no password, or take all of
    the server's memory if it has no ``maxmemory``."""
    r = _client(admin_url)
    try:
        entries = [line.decode() if isinstance(line, bytes) else line for line in r.execute_command("ACL", "LIST")]
        memory = r.config_get("maxmemory*")
    finally:
        r.close()
    doors = []
    default = next((e for e in entries if e.startswith("user default ")), "")
    if " on " in f" {default} " and "nopass" in default.split():
        doors.append(
            "Redis' default user needs no password: a learner could connect without its ACL user. "
            "Fix: ACL SETUSER default on >secret (or requirepass) and give the instructor's REDIS_URL that password (docs/classroom.md)"
        )
    if int(memory.get("maxmemory", 0) or 0) == 0:
        doors.append(
            "Redis has no maxmemory: one learner writing in a loop takes the machine's memory. "
            "Fix: maxmemory 2gb and maxmemory-policy noeviction in redis.conf (docs/classroom.md)"
        )
    elif memory.get("maxmemory-policy") != "noeviction":
        doors.append(
            f"Redis evicts keys when full (maxmemory-policy {memory.get('maxmemory-policy')}): one learner's "
            "flood would silently delete classmates' keys. Fix: maxmemory-policy noeviction (docs/classroom.md)"
        )
    return doors
