"""Backpressure, made visible: Redis disconnects a pub/sub subscriber that reads too slowly.

Redis pushes pub/sub messages into each subscriber's **output buffer**. If a subscriber
does not read fast enough the buffer grows, and once it passes
``client-output-buffer-limit pubsub <hard> <soft> <seconds>`` (default: 32 MB hard, or 8 MB
for 60 s) Redis closes the connection. redis-py reconnects and subscribes again on its
own — so the subscriber carries on, and **never learns** which messages it missed.

We must not change that limit on a Redis other learners share, so :class:`ThrowawayRedis`
starts a private ``redis-server`` on a free loopback port, with a small limit, and stops it
afterwards:

    async with ThrowawayRedis(pubsub_limit="256kb 128kb 0") as server:
        result = await slow_subscriber(server, burst=3000)
    print(result)   # burst of 3000: received 946, lost 2054 | Redis closed the subscriber 1 time(s) ...
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from workshop.config import Namespace, settings
from workshop.errors import WorkshopError
from workshop.events import Event
from workshop.process import Server, free_port, port_open
from workshop.waiting import until

DISCONNECT_LOG = "overcoming of output buffer limits"  # what redis-server logs when it closes one


class ThrowawayRedis:
    """A private ``redis-server`` on 127.0.0.1:<free port> for one experiment.

    No persistence by default (like every Redis this course starts, for speed); ``appendfsync``
    ``"everysec"`` or ``"always"`` turns the append-only file (AOF) on. ``args`` adds other
    redis-server options. The server runs in a temporary folder of its own, removed when it
    stops; :meth:`crash` kills it with ``SIGKILL`` and :meth:`start` brings it back on the same
    port and folder.
    """

    def __init__(
        self,
        pubsub_limit: str = "256kb 128kb 0",
        startup_timeout: float = 10.0,
        args: tuple[str, ...] = (),
        appendfsync: str | None = None,
    ) -> None:
        if appendfsync not in (None, "everysec", "always"):
            raise ValueError("appendfsync must be None (no persistence), 'everysec' or 'always'")
        self.pubsub_limit, self.startup_timeout, self.args = pubsub_limit, startup_timeout, args
        self.appendfsync = appendfsync
        self.port = 0
        self.server: Server | None = None
        self._dir: tempfile.TemporaryDirectory | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def proc(self) -> Any:
        """The running ``redis-server`` process (``None`` once stopped)."""
        return self.server.proc if self.server else None

    @property
    def logfile(self) -> Path:
        assert self._dir is not None, "the server is not running"
        return Path(self._dir.name) / "redis.log"

    async def start(self) -> ThrowawayRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise WorkshopError(
                "redis-server is not installed, so no throw-away server can be started: "
                "apt-get install redis-server (or brew install redis)"
            )
        if self._dir is None:  # a restart after crash() keeps its folder and port
            self._dir = tempfile.TemporaryDirectory(prefix="workshop-redis-")
            self.port = free_port()
        persistence = (
            ["--appendonly", "no"]
            if self.appendfsync is None
            else ["--appendonly", "yes", "--appendfsync", self.appendfsync]
        )
        argv = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            *persistence,
            "--dir",
            self._dir.name,
            "--logfile",
            str(self.logfile),
            "--client-output-buffer-limit",
            f"pubsub {self.pubsub_limit}",
            *self.args,
        ]
        self.server = Server(
            f"the throw-away redis-server on port {self.port}",
            argv,
            log=self.logfile,
            output=Path(self._dir.name) / "redis.out",
            ready=self._ours_answers,
            startup_timeout=self.startup_timeout,
            stop_timeout=5,
        )
        try:
            await self.server.astart()
        except BaseException:
            await self.stop()
            raise
        return self

    def _ours_answers(self) -> bool:
        """Ready once *our* redis-server answers. The port was free when it was picked (or when the
        server crashed); another program may have taken it since — then we must not talk to that one."""
        import redis

        if not port_open("127.0.0.1", self.port):
            return False
        try:
            with redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=1) as client:
                pid = int(client.info("server")["process_id"])
        except (redis.RedisError, OSError, KeyError, ValueError):
            return False  # not (yet) a Redis answering: ours is starting, or will exit with "Address in use"
        ours = self.server.pid if self.server else None
        if pid != ours:
            raise WorkshopError(
                f"port {self.port} is answered by another redis-server (pid {pid}), not the throw-away one "
                f"(pid {ours}): something took the port; start the experiment again"
            )
        return True

    def log_tail(self, lines: int = 3) -> str:
        return self.server.log_tail(lines) if self.server else ""

    def disconnections(self) -> int:
        """How many clients this server closed for passing their output buffer limit."""
        try:
            return self.logfile.read_text().count(DISCONNECT_LOG)
        except OSError:
            return 0

    async def crash(self) -> None:
        """``SIGKILL``: the process dies at once, no shutdown, no last write — its files stay."""
        if self.server is not None and self.server.proc is not None:
            proc, self.server.proc = self.server.proc, None
            proc.kill()
            await asyncio.to_thread(proc.wait, 5)
        self.server = None

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.astop()
            self.server = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    async def __aenter__(self) -> ThrowawayRedis:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


@dataclass
class SlowSubscriberResult:
    published: int  # events in the burst
    received: int  # of those, how many the slow subscriber got
    lost: int
    disconnections: int  # counted in the server's log
    after: int  # events published after the burst that it received: it carried on
    noticed: int  # disconnects the subscriber itself saw (it cannot know what they cost)

    def __str__(self) -> str:
        return (
            f"burst of {self.published}: received {self.received}, lost {self.lost} | Redis closed the "
            f"subscriber {self.disconnections} time(s) | it noticed {self.noticed} dropped connection(s), "
            f"subscribed again, and received the {self.after} events published after the burst"
        )


async def slow_subscriber(
    server: ThrowawayRedis, burst: int = 3000, size: int = 4096, after: int = 5, timeout: float = 15.0
) -> SlowSubscriberResult:
    """A subscriber stalls on its first message while ``burst`` events of ``size`` bytes are published."""
    from workshop.pubsub.publisher import Publisher
    from workshop.pubsub.subscriber import Subscriber

    s = replace(settings(), redis_url=server.url, namespace=Namespace("ws_backpressure"))
    stalled = asyncio.Event()

    async def slow(channel: str, event: Event) -> None:
        if event.data.get("phase") == "burst":
            await stalled.wait()  # e.g. a long computation, a GC pause, a slow disk

    # its one-line problem reports stay in sub.problems; the result counts them (`noticed`)
    sub = await Subscriber.start(s, channels=["firehose"], handler=slow, name="slow", log_line=lambda line: None)
    pub = await Publisher.open(s)
    try:
        padding = "x" * size
        events = [Event("tick", "sensor-1", {"phase": "burst", "seq": i, "pad": padding}) for i in range(burst)]
        for i in range(0, burst, 200):
            await pub.publish_many([("firehose", e) for e in events[i : i + 200]])
        await until(server.disconnections, timeout=timeout, what="Redis to close the slow subscriber")
        stalled.set()
        extra = [Event("tick", "sensor-1", {"phase": "after", "seq": i}) for i in range(after)]
        last = extra[-1].event_id
        for e in extra:  # one by one: each PUBLISH says whether it reached the subscriber
            await until(
                partial(pub.publish, "firehose", e),
                timeout=timeout,
                what="a PUBLISH that reaches the reconnected subscriber",
            )
        await until(
            lambda: any(e.event_id == last for e in sub.events),
            timeout=timeout,
            what="the events published after the burst",
        )
        got = {e.event_id for e in sub.events}
        received = sum(1 for e in events if e.event_id in got)
        return SlowSubscriberResult(
            burst,
            received,
            burst - received,
            server.disconnections(),
            sum(1 for e in extra if e.event_id in got),
            sub.stats.disconnects,
        )
    finally:
        stalled.set()
        await pub.close()
        await sub.stop()
