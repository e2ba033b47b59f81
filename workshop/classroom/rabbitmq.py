"""RabbitMQ for a class: one virtual host and one user per learner, through the management API.

Why a vhost per learner rather than permission regexes in one shared vhost: the
chapters publish retries through the *default exchange* (``""``), and write
permission on it lets a user put a message into **any** queue of the vhost by
name — another learner's included. A vhost has its own default exchange, its own
``amq.*`` exchanges and its own limits (connections, queues), and a user with
the ``management`` tag sees only the vhosts it may use. So ``ws_alice`` gets the
vhost ``ws_alice`` with full rights there and none anywhere else: opening
``ws_bob``'s vhost, binding to its exchanges or consuming its queues is refused
by the broker at the door ("access refused").
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import aiohttp

from workshop.classroom.learners import Learner, with_login
from workshop.errors import WorkshopError

LIMITS = {"max-connections": 30, "max-queues": 100}  # per vhost: a runaway loop cannot exhaust the broker
# An *operator* policy on every queue of the learner's vhost: only an administrator can set one,
# and where a queue's own arguments (x-max-length…) also set a limit, the broker applies the
# smaller of the two — so a learner can lower these, never raise them. Past the limit the
# oldest messages are dropped (or new ones refused, if the learner asks for x-overflow).
QUEUE_CAPS = {"max-length": 50_000, "max-length-bytes": 8 * 2**20}
# so one learner's messages take at most max-queues x max-length-bytes = 800 MiB of the broker's memory
USER_CAPS = {"max-channels": 200}  # over all the learner's connections (chapter 1 opens a few per bus)


class Management:
    """The few management API calls provisioning needs, as the instructor (an ``administrator``)."""

    def __init__(self, management_url: str, timeout: float = 10) -> None:
        from workshop.infra.probes import split_auth

        base, headers = split_auth(management_url)
        self.root = base.rstrip("/") + "/api"
        self.session = aiohttp.ClientSession(
            headers={**headers, "content-type": "application/json"}, timeout=aiohttp.ClientTimeout(total=timeout)
        )

    async def __aenter__(self) -> Management:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()

    async def call(self, method: str, path: str, body: dict | None = None, missing_ok: bool = False) -> object:
        try:
            async with self.session.request(
                method, self.root + path, data=None if body is None else json.dumps(body)
            ) as resp:
                if resp.status == 404 and missing_ok:
                    return None
                if resp.status >= 400:
                    raise WorkshopError(
                        f"RabbitMQ management API {method} {path}: {resp.status} {(await resp.text())[:200]}"
                    )
                text = await resp.text()
                return json.loads(text) if text else None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise WorkshopError(
                f"RabbitMQ management API at {self.root} did not answer ({type(exc).__name__}): "
                "is the rabbitmq_management plugin enabled?"
            ) from None


def _q(name: str) -> str:
    return quote(name, safe="")


async def add(
    management_url: str, learner: Learner, queue_caps: dict | None = None, user_caps: dict | None = None
) -> None:
    """The learner's vhost (limits, operator policy), user (``management`` tag, password set again,
    channel limit) and rights there. ``queue_caps``/``user_caps`` replace the defaults (tests use small ones)."""
    name = learner.account
    async with Management(management_url) as api:
        await api.call("PUT", f"/vhosts/{_q(name)}", {"description": f"classroom learner {learner.name}"})
        for limit, value in LIMITS.items():
            await api.call("PUT", f"/vhost-limits/{_q(name)}/{limit}", {"value": value})
        await api.call(
            "PUT",
            f"/operator-policies/{_q(name)}/workshop-caps",
            {"pattern": ".*", "apply-to": "queues", "priority": 0, "definition": dict(queue_caps or QUEUE_CAPS)},
        )
        await api.call("PUT", f"/users/{_q(name)}", {"password": learner.rabbitmq, "tags": "management"})
        for limit, value in (user_caps or USER_CAPS).items():
            await api.call("PUT", f"/user-limits/{_q(name)}/{limit}", {"value": value})
        await api.call("PUT", f"/permissions/{_q(name)}/{_q(name)}", {"configure": ".*", "write": ".*", "read": ".*"})


async def reset(management_url: str, learner: Learner) -> None:
    """Empty the learner's vhost by deleting it; :func:`add` creates it again."""
    async with Management(management_url) as api:
        await api.call("DELETE", f"/vhosts/{_q(learner.account)}", missing_ok=True)


async def remove(management_url: str, learner: Learner) -> None:
    """Delete the learner's vhost (queues, exchanges, connections) and user."""
    async with Management(management_url) as api:
        await api.call("DELETE", f"/vhosts/{_q(learner.account)}", missing_ok=True)
        await api.call("DELETE", f"/users/{_q(learner.account)}", missing_ok=True)


def per_learner_bytes(queue_caps: dict | None = None) -> int:
    """The most message bytes one learner's vhost can hold: max-queues x max-length-bytes."""
    return LIMITS["max-queues"] * (queue_caps or QUEUE_CAPS)["max-length-bytes"]


async def open_doors(amqp_url: str, management_url: str = "", learners: int = 0) -> list[str]:
    """A learner could skip its own user if ``guest``/``guest`` still works (it does from loopback);
    a class whose queues may hold more than the broker's memory limit could trip the memory alarm,
    which blocks every publisher of every learner."""
    import aio_pika

    doors = []
    try:
        conn = await aio_pika.connect(with_login(amqp_url, "guest", "guest", "/"), timeout=5)
    except Exception:  # noqa: BLE001 - refused is what we want
        pass
    else:
        await conn.close()
        doors.append(
            "RabbitMQ accepts guest/guest (an administrator) from this machine: a learner could use it. "
            "Fix: rabbitmqctl change_password guest <secret> (docs/classroom.md)"
        )
    if management_url and learners:
        async with Management(management_url) as api:
            nodes: Any = await api.call("GET", "/nodes")
            limit = min(int(node["mem_limit"]) for node in nodes)
        if learners * per_learner_bytes() > limit:
            doors.append(
                f"RabbitMQ: {learners} learners' queues may hold {learners * per_learner_bytes() / 2**30:.1f} GiB, "
                f"more than the broker's memory limit ({limit / 2**30:.1f} GiB): the memory alarm would block "
                "every publisher. Fix: vm_memory_high_watermark in rabbitmq.conf, or a smaller class (docs/classroom.md)"
            )
    return doors
