"""Give a learner (or take away) its accounts on every service, as the instructor.

    learner = provision(settings(), roster.ensure("alice"))   # safe to repeat
    reset(settings(), learner)                                 # empty its namespace, keep its accounts
    remove(settings(), learner)                                # accounts and data gone

``settings()`` here are the instructor's: an administrator on each service.
"""

from __future__ import annotations

import asyncio

from workshop.classroom import postgres, rabbitmq, redis_acl
from workshop.classroom.learners import Learner
from workshop.config import Settings


def prepare(admin: Settings) -> None:
    """What the whole class shares: the learners' PostgreSQL group role."""
    postgres.prepare(admin.database_url)


def provision(
    admin: Settings,
    learner: Learner,
    pg_caps: postgres.Caps = postgres.CAPS,
    queue_caps: dict | None = None,
    user_caps: dict | None = None,
) -> Learner:
    """The learner's PostgreSQL role and database, RabbitMQ vhost and user, Redis ACL user, each
    with its caps (the defaults, or smaller ones for a test)."""
    postgres.add(admin.database_url, learner, pg_caps)
    asyncio.run(rabbitmq.add(admin.rabbitmq_management_url, learner, queue_caps, user_caps))
    redis_acl.add(admin.redis_url, learner)
    return learner


def reset(admin: Settings, learner: Learner) -> dict[str, int]:
    """Delete everything in the learner's namespace on each service, then provision it again."""
    schemas = postgres.reset(admin.database_url, learner)
    asyncio.run(rabbitmq.reset(admin.rabbitmq_management_url, learner))
    keys = redis_acl.reset(admin.redis_url, learner)
    provision(admin, learner)
    return {"schemas": schemas, "vhosts": 1, "redis keys": keys}


def watch(admin: Settings, learners: list[Learner], limit_mib: int | None = None) -> dict[str, dict]:
    """Each learner's PostgreSQL database size; a learner past ``limit_mib`` (default: ``postgres.CAPS``)
    is frozen (cannot log in, data kept) until the instructor's ``workshop classroom reset``.
    Returns {name: {mib, frozen, over}}."""
    limit_mib = postgres.CAPS.size_limit_mib if limit_mib is None else limit_mib
    report = {}
    for name, size in postgres.sizes(admin.database_url, learners).items():
        learner = next(one for one in learners if one.name == name)
        over = size > limit_mib * 2**20
        if over and not postgres.frozen(admin.database_url, learner):
            postgres.freeze(admin.database_url, learner)
        report[name] = {"mib": size / 2**20, "over": over, "frozen": postgres.frozen(admin.database_url, learner)}
    return report


def remove(admin: Settings, learner: Learner) -> None:
    """Delete the learner's data and accounts on every service."""
    postgres.remove(admin.database_url, learner)
    asyncio.run(rabbitmq.remove(admin.rabbitmq_management_url, learner))
    redis_acl.remove(admin.redis_url, learner)


def open_doors(admin: Settings, learners: list[Learner] | None = None) -> list[str]:
    """Ways a learner could step around its own accounts (logins without a secret, over TCP or the
    Unix socket) or take a shared server down (no memory cap, connections beyond the server's)."""
    doors = [
        *postgres.open_doors(admin.database_url),
        *asyncio.run(rabbitmq.open_doors(admin.amqp_url, admin.rabbitmq_management_url, len(learners or []))),
        *redis_acl.open_doors(admin.redis_url),
    ]
    needed, available = postgres.connection_budget(admin.database_url, list(learners or []))
    if needed > available:
        doors.append(
            f"PostgreSQL: the learners' connection limits add up to {needed}, more than the {available} "
            f"max_connections leaves (less the superusers' reserve and {postgres.RESERVED} for the instructor): "
            f"a class could lock everyone out. Fix: raise max_connections by {needed - available} "
            "in postgresql.conf and restart, or lower the per-learner limit (docs/classroom.md)"
        )
    return doors
