"""A robust AMQP connection that, when its node dies, reconnects to *another* node of a cluster.

aio-pika's ``connect_robust`` reconnects after a failure — but to the one URL it was given. When
that URL's node is dead, it knocks on the same door every second until the node returns, while
two healthy nodes of the cluster wait a port away. aio-pika takes exactly one URL and has no
list of hosts (the Java and .NET clients take an address list; aio-pika does not), so this small
class is hand-written: it keeps aio-pika's recovery (channels, exchanges, queues and consumers
re-declared, publisher confirms) and changes one thing, **which URL the next attempt uses**:
the next one in the list, round and round. RabbitMQ still decides everything else: which node
leads a queue, what happens to unacknowledged messages (they are delivered again).

    connection = await connect_failover(cluster.urls)
    # kill the node it is connected to: a moment later it is connected to the next one

What a client sees during the switch is the lesson of chapter 7: a publish that was in flight
fails (its confirm never comes), and a consumer's unacknowledged messages come again,
``redelivered``. The outbox (publish again until confirmed) and the inbox (ignore a second copy)
of chapter 1 turn that into "nothing lost, nothing done twice".
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aio_pika import RobustConnection
from yarl import URL

from workshop.connect import TIMEOUT, failure_reason
from workshop.errors import ServiceUnavailable


class FailoverConnection(RobustConnection):
    """aio-pika's ``RobustConnection`` that tries the next URL of ``urls`` on every (re)connection."""

    def __init__(self, urls: Sequence[str], **kwargs: Any) -> None:
        self.urls = [URL(u) for u in urls]
        self.attempts = 0  # connection attempts so far; attempt n goes to urls[n % len(urls)]
        self.switches: list[tuple[float, str]] = []  # (loop time, url) of each attempt after the first
        super().__init__(self.urls[0], **kwargs)
        self.attempts, self.switches = 0, []  # the constructor itself cleared ``transport`` once

    # aio-pika clears ``transport`` right before each connection attempt (and reads ``self.url``
    # just after): the one place to pick the next node without copying its reconnection loop.
    @property  # type: ignore[override]
    def transport(self) -> Any:
        return self._failover_transport

    @transport.setter
    def transport(self, value: Any) -> None:
        if value is None and hasattr(self, "urls") and not self.is_closed_for_good:
            self.url = self.urls[self.attempts % len(self.urls)]
            if self.attempts:
                self.switches.append((asyncio.get_event_loop().time(), str(self.url.port)))
            self.attempts += 1
        self._failover_transport = value

    @property
    def is_closed_for_good(self) -> bool:
        return bool(getattr(self, "_close_called", False))

    @property
    def node_port(self) -> int | None:
        """The AMQP port of the node this connection uses (or tries) now."""
        return self.url.port


async def connect_failover(
    urls: Sequence[str], *, timeout: float = TIMEOUT, reconnect_interval: float = 0.5, **kwargs: Any
) -> FailoverConnection:
    """A connected :class:`FailoverConnection`; the first node that answers is used.

    Raises :class:`~workshop.errors.ServiceUnavailable` (one line) when no node answers.
    """
    if not urls:
        raise ValueError("connect_failover needs at least one URL")
    last: BaseException | None = None
    for start in range(len(urls)):  # the first connection: try each node once, in order
        ordered = list(urls[start:]) + list(urls[:start])
        connection = FailoverConnection(ordered, reconnect_interval=reconnect_interval, **kwargs)
        try:
            await asyncio.wait_for(connection.connect(timeout), timeout + 1)
            return connection
        except Exception as exc:  # noqa: BLE001 - try the next node
            last = exc
            await connection.close()
    raise ServiceUnavailable(
        "RabbitMQ cluster",
        ", ".join(URL(u).with_password("***").human_repr() for u in urls),
        failure_reason(last) if last else "no URL",
        fix="start the cluster first: `async with Cluster() as cluster:` (workshop.cluster)",
    )
