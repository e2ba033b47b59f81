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
    """What the whole class shares: the class database, its group role, the schema guard."""
    postgres.prepare(admin.database_url)


def provision(admin: Settings, learner: Learner) -> Learner:
    """The learner's PostgreSQL role and schema, RabbitMQ vhost and user, Redis ACL user."""
    postgres.add(admin.database_url, learner)
    asyncio.run(rabbitmq.add(admin.rabbitmq_management_url, learner))
    redis_acl.add(admin.redis_url, learner)
    return learner


def reset(admin: Settings, learner: Learner) -> dict[str, int]:
    """Delete everything in the learner's namespace on each service, then provision it again."""
    schemas = postgres.reset(admin.database_url, learner)
    asyncio.run(rabbitmq.reset(admin.rabbitmq_management_url, learner))
    keys = redis_acl.reset(admin.redis_url, learner)
    provision(admin, learner)
    return {"schemas": schemas, "vhosts": 1, "redis keys": keys}


def remove(admin: Settings, learner: Learner) -> None:
    """Delete the learner's data and accounts on every service."""
    postgres.remove(admin.database_url, learner)
    asyncio.run(rabbitmq.remove(admin.rabbitmq_management_url, learner))
    redis_acl.remove(admin.redis_url, learner)


def open_doors(admin: Settings) -> list[str]:
    """Ways a learner could step around its own accounts (admin logins without a secret)."""
    return [*postgres.open_doors(admin.database_url), *asyncio.run(rabbitmq.open_doors(admin.amqp_url)),
            *redis_acl.open_doors(admin.redis_url)]
