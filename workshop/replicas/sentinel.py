"""Redis under Sentinel: a master, a replica and three Sentinels, all throw-away.

Redis replicates **asynchronously**: the master answers ``XADD`` and then streams the write to
its replicas. Three **Sentinel** processes watch the master; when a majority (the quorum, 2)
agree it is down for ``down-after-milliseconds``, one of them is elected and promotes the
replica. Clients ask a Sentinel where the master is — redis-py's ``Sentinel.master_for`` does
it for every new connection, so after a failover the next command lands on the new master.

    async with SentinelGroup() as group:
        r = group.master()                        # redis.asyncio client that follows the master
        result = await kill_master_under_load(group, wait=False)
        print(result)   # without WAIT: 5,000 acknowledged, 3,100 lost; failover 2.3 s …

**WAIT.** ``WAIT 1 <ms>`` blocks until one replica has *received* the writes made so far on
this connection (or the timeout passes) and returns how many replicas did. It makes a write
*known to be replicated* before we call it acknowledged — it does not make Redis synchronous:
the write is on the master whatever ``WAIT`` answers (nothing is rolled back), the replica
acknowledged receiving it, not writing it to disk, and Sentinel may still promote a replica
that did not get it (here there is only one).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workshop.errors import WorkshopError
from workshop.events import Event
from workshop.process import Server, free_port, port_open
from workshop.replicas.procs import leftovers
from workshop.waiting import until, until_sync

NAME = "workshop"  # the name Sentinels know the master by
INSTALL = "apt-get install redis-server redis-sentinel (workshop setup installs them)"


def _ping(port: int) -> Any:
    import redis

    try:
        with redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1, decode_responses=True) as r:
            return r.ping()
    except redis.RedisError:
        return False


def _info(port: int, section: str) -> dict[str, Any]:
    import redis

    try:
        with redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1, decode_responses=True) as r:
            return r.info(section)
    except redis.RedisError:
        return {}


def _without_replicaof(argv: list[str]) -> list[str]:
    """``argv`` less its ``--replicaof HOST PORT``, if any."""
    if "--replicaof" not in argv:
        return list(argv)
    i = argv.index("--replicaof")
    return argv[:i] + argv[i + 3 :]


@dataclass
class SentinelGroup:
    """``redis-server`` master + replica and three ``redis-sentinel`` on free loopback ports."""

    down_after_ms: int = 1000
    failover_timeout_ms: int = 10000
    startup_timeout: float = 30.0
    home: Path | None = None
    servers: dict[str, Server] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    # --- starting and stopping ---------------------------------------------------------
    def start(self) -> SentinelGroup:
        missing = [b for b in ("redis-server", "redis-sentinel") if shutil.which(b) is None]
        if missing:
            raise WorkshopError(f"cannot start Redis under Sentinel: {', '.join(missing)} not installed — {INSTALL}")
        self.home = Path(tempfile.mkdtemp(prefix="workshop-sentinel-"))
        try:
            self._redis("redis0")
            self._redis("redis1", replica_of=self.ports["redis0"])
            until_sync(
                lambda: _info(self.ports["redis1"], "replication").get("master_link_status") == "up",
                timeout=self.startup_timeout,
                what="the Redis replica to sync with its master",
            )
            for i in range(3):
                self._sentinel(f"sentinel{i}")
            until_sync(
                self._sentinels_agree,
                timeout=self.startup_timeout,
                every=0.2,
                what="the three Sentinels to find each other and the replica",
            )
        except BaseException:
            self.stop()
            raise
        return self

    def _redis(self, name: str, replica_of: int | None = None) -> None:
        assert self.home is not None
        port = self.ports[name] = free_port()
        argv = [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.home),
            "--dbfilename",
            f"{name}.rdb",
            "--maxmemory",
            "64mb",
            # a master that syncs a replica without disk waits 5 s by default for more replicas to
            # join the same transfer: with one replica, each (re)sync would idle 5 s
            "--repl-diskless-sync-delay",
            "0",
            "--logfile",
            str(self.home / f"{name}.log"),
        ]
        if replica_of:
            argv += ["--replicaof", "127.0.0.1", str(replica_of)]
        self.servers[name] = Server(
            name, argv, ready=lambda: _ping(port), log=self.home / f"{name}.log", startup_timeout=self.startup_timeout
        )
        self.servers[name].start()

    def _sentinel(self, name: str) -> None:
        assert self.home is not None
        port = self.ports[name] = free_port()
        conf = self.home / f"{name}.conf"  # Sentinel rewrites its own file: one each
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {self.home}\n"
            f"sentinel monitor {NAME} 127.0.0.1 {self.ports['redis0']} 2\n"
            f"sentinel down-after-milliseconds {NAME} {self.down_after_ms}\n"
            f"sentinel failover-timeout {NAME} {self.failover_timeout_ms}\n"
            f"sentinel parallel-syncs {NAME} 1\n"
            f"logfile {self.home / (name + '.log')}\n"
        )
        self.servers[name] = Server(
            name,
            ["redis-sentinel", str(conf)],
            ready=lambda: port_open("127.0.0.1", port),
            log=self.home / f"{name}.log",
            startup_timeout=self.startup_timeout,
        )
        self.servers[name].start()

    def _sentinels_agree(self) -> bool:
        for port in self.sentinel_ports:
            state = _info(port, "sentinel")
            master = state.get("master0") or {}
            if not (isinstance(master, dict) and master.get("sentinels") == 3 and master.get("slaves") == 1):
                return False
        return True

    def stop(self) -> None:
        """Stop all five processes and delete the directory; fail if one is left."""
        pids = {s.pid for s in self.servers.values() if s.pid}
        for server in self.servers.values():
            server.signal(signal.SIGCONT)  # a frozen process cannot act on SIGTERM
            server.stop()
        left = leftovers(pids, self.home)
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)
        if left:
            raise WorkshopError(
                f"Redis under Sentinel left {len(left)} process(es) running: " + ", ".join(str(p.pid) for p in left)
            )

    def __enter__(self) -> SentinelGroup:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> SentinelGroup:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    # --- clients ---------------------------------------------------------------------------
    @property
    def sentinel_ports(self) -> list[int]:
        return [p for n, p in self.ports.items() if n.startswith("sentinel")]

    def sentinel(self) -> Any:
        """redis-py's asyncio ``Sentinel`` over the three Sentinels."""
        from redis.asyncio.sentinel import Sentinel

        return Sentinel([("127.0.0.1", p) for p in self.sentinel_ports], socket_timeout=1.0, socket_connect_timeout=1.0)

    def master(self, **kw: Any) -> Any:
        """A client that asks the Sentinels where the master is on every (re)connection."""
        return self.sentinel().master_for(
            NAME, decode_responses=True, socket_timeout=2.0, socket_connect_timeout=1.0, **kw
        )

    def master_name(self) -> str | None:
        """Which of ``redis0`` / ``redis1`` the Sentinels currently call master."""
        for port in self.sentinel_ports:
            master = _info(port, "sentinel").get("master0") or {}
            if isinstance(master, dict) and master.get("status") == "ok":
                addr = str(master.get("address", ""))
                for name, p in self.ports.items():
                    if addr.endswith(f":{p}") and name.startswith("redis"):
                        return name
        return None

    async def restart(self, name: str, timeout: float = 30.0) -> None:
        """Start a killed server again on its port, as a replica of the master the Sentinels name.

        What a restart script does in production (``SENTINEL get-master-addr-by-name``). A server
        that came back as a master would wait for a Sentinel to convert it: about 10 s here (a
        Sentinel first watches it answer as a master for 8 s), and in notebook 08 on a loaded
        machine no Sentinel had done it after 60 s, none of them in TILT mode (cause not found).
        """
        old = self.servers[name]
        old.stop()
        argv = _without_replicaof(old.argv)
        master = await asyncio.to_thread(self.master_name)
        if master is not None and master != name:
            argv += ["--replicaof", "127.0.0.1", str(self.ports[master])]
        self.servers[name] = Server(name, argv, ready=old.ready, log=old.log, startup_timeout=self.startup_timeout)
        await self.servers[name].astart()
        if master is None or master == name:
            return
        port = self.ports[name]
        await until(
            lambda: asyncio.to_thread(lambda: _info(port, "replication").get("master_link_status") == "up"),
            timeout=timeout,
            every=0.2,
            what=f"{name} to sync as a replica of {master}",
            detail=lambda: self._restart_state(name),
        )

    def _restart_state(self, name: str) -> str:
        info = _info(self.ports[name], "replication")
        tilted = sum(bool(_info(p, "sentinel").get("sentinel_tilt")) for p in self.sentinel_ports)
        return (
            f"{name} answers as {info.get('role', 'nothing')} (replication link {info.get('master_link_status', '-')}); "
            f"Sentinels in TILT mode: {tilted} of {len(self.sentinel_ports)}"
        )

    # --- faults ----------------------------------------------------------------------------
    def kill(self, name: str) -> float:
        """SIGKILL one Redis server; returns ``time.monotonic()`` right after."""
        self.servers[name].signal(signal.SIGKILL)
        return time.monotonic()

    @contextlib.contextmanager
    def link_down(self, master: str, replica: str):
        """The replication link drops and the replica is unreachable for a while (a network blip).

        The replica is frozen (SIGSTOP) so it cannot reconnect, and the master closes its
        connection to it (``CLIENT KILL TYPE replica``): from now on the master's writes go
        nowhere but its own memory. On exit the replica is thawed (SIGCONT).
        """
        import redis

        self.servers[replica].signal(signal.SIGSTOP)
        try:
            with redis.Redis(port=self.ports[master], socket_timeout=2) as r:
                r.client_kill_filter(_type="replica")
            yield
        finally:
            self.servers[replica].signal(signal.SIGCONT)

    async def wait_for_master(self, other_than: str, timeout: float = 30.0) -> str:
        return await until(
            lambda: asyncio.to_thread(lambda: (m := self.master_name()) != other_than and m),
            timeout=timeout,
            every=0.1,
            what="Sentinel to promote the replica",
        )


@dataclass
class RedisFailover:
    wait: bool  # WAIT 1 after each batch
    acknowledged: int
    acked_while_slow: int
    unconfirmed: int  # written, but WAIT said no replica had it (or the connection broke)
    lost: int
    failover_s: float  # SIGKILL → first XADD the new master answered
    old: str
    new: str

    def __str__(self) -> str:
        how = "with WAIT 1" if self.wait else "without WAIT"
        return (
            f"{how}: {self.acknowledged:,} acknowledged ({self.acked_while_slow:,} while the link was "
            f"down), {self.lost:,} lost | {self.unconfirmed:,} not confirmed | failover "
            f"{self.failover_s:.1f} s ({self.old} → {self.new})"
        )


@dataclass
class StreamWriter:
    """``XADD`` in pipelined batches of ``batch`` events; a batch is *acknowledged* when the master
    answered it and — with ``wait`` — ``WAIT 1 100`` said a replica has it."""

    r: Any
    key: str
    wait: bool
    batch: int = 50
    size: int = 256
    acked: list[tuple[float, str]] = field(default_factory=list)  # (when its batch was sent, event id)
    written: list[tuple[float, float]] = field(default_factory=list)  # (sent, answered) per batch the master took
    unconfirmed: int = 0  # written, but WAIT said no replica had it (or the connection broke)

    async def run_until(self, stop: asyncio.Event) -> None:
        from redis.exceptions import RedisError

        from workshop.pubsub.streams import append_many

        pad, i = "x" * self.size, 0
        while not stop.is_set():
            events = [Event("Ticked", "sensor-1", {"i": i + k, "pad": pad}) for k in range(self.batch)]
            i += self.batch
            start = time.monotonic()
            try:
                await append_many(self.r, self.key, events)
                self.written.append((start, time.monotonic()))
                if self.wait and await self.r.wait(1, 100) < 1:
                    self.unconfirmed += self.batch  # on the master only: do not call it acknowledged
                    continue
            except (RedisError, OSError):
                self.unconfirmed += self.batch
                await asyncio.sleep(0.05)
                continue
            self.acked.extend((start, e.event_id) for e in events)

    def written_since(self, t: float) -> int:
        return sum(self.batch for sent, _ in self.written if sent > t)

    def first_answer_after(self, t: float) -> float:
        return next((end for start, end in self.written if start > t), t)


async def stream_ids(r: Any, key: str) -> list[str]:
    """Every event id in the stream, in order (``XRANGE`` page by page)."""
    from workshop.pubsub.streams import FIELD

    out: list[str] = []
    last = "-"
    while entries := await r.xrange(key, min=last, count=1000):
        out.extend(Event.from_json(fields[FIELD]).event_id for _, fields in entries)
        if len(entries) < 1000:
            break
        last = "(" + entries[-1][0]
    return out


async def kill_master_under_load(
    group: SentinelGroup,
    *,
    wait: bool,
    batch: int = 50,
    size: int = 256,
    warmup: int = 500,
    down: float = 0.6,
    after: int = 200,
    timeout: float = 60.0,
) -> RedisFailover:
    """XADD in pipelined batches; the link drops, the master dies (SIGKILL); count what survived."""
    r = group.master()
    writer = StreamWriter(r, f"failover:{'wait' if wait else 'nowait'}", wait, batch, size)
    stop = asyncio.Event()
    task = asyncio.create_task(writer.run_until(stop), name="xadd writer")
    try:
        await until(lambda: len(writer.acked) >= warmup, timeout=timeout, what=f"{warmup} XADDs before the fault")
        old = await asyncio.to_thread(group.master_name) or "redis0"
        replica = "redis1" if old == "redis0" else "redis0"
        before = len(writer.acked)
        with group.link_down(old, replica):
            await asyncio.sleep(down)
            slow = len(writer.acked) - before
            killed_at = group.kill(old)
        new = await group.wait_for_master(other_than=old, timeout=timeout)
        # with WAIT nothing is confirmed now: the new master has no replica left
        await until(
            lambda: writer.written_since(killed_at) >= after, timeout=timeout, what=f"{after} XADDs on the new master"
        )
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.shield(task), timeout)
    present = set(await stream_ids(r, writer.key))
    await r.aclose()
    lost = sum(1 for _, e in writer.acked if e not in present)
    return RedisFailover(
        wait,
        len(writer.acked),
        slow,
        writer.unconfirmed,
        lost,
        writer.first_answer_after(killed_at) - killed_at,
        old,
        new,
    )


# --- a consumer group through the failover --------------------------------------------------------


@dataclass
class ConsumerFailover:
    wait: bool  # the writer used WAIT 1 after each batch
    acknowledged: int  # XADDs acknowledged to the writer
    lost: int  # acknowledged, not in the new master's stream
    consumed: int  # distinct entries the consumer handled (and XACKed)
    doubled: int  # entries handled more than once: redelivered by the new master
    vanished: int  # handled, then gone: the consumer saw a write the failover took back
    unconsumed: int  # in the stream at the end, never handled (the invariant: 0)
    failover_s: float  # SIGKILL → first entry the consumer handled from the new master
    consumer_errors: int  # polls that failed while there was no master
    old: str
    new: str

    def __str__(self) -> str:
        how = "with WAIT 1" if self.wait else "without WAIT"
        return (
            f"{how}: {self.acknowledged:,} acknowledged, {self.lost:,} lost | consumer: {self.consumed:,} handled, "
            f"{self.doubled:,} twice, {self.vanished:,} vanished afterwards, {self.unconsumed} never | "
            f"consumer back {self.failover_s:.1f} s after the kill ({self.old} → {self.new})"
        )


async def consume_while_master_dies(
    group: SentinelGroup,
    *,
    wait: bool,
    warmup: int = 300,
    down: float = 0.6,
    after: int = 100,
    timeout: float = 60.0,
) -> ConsumerFailover:
    """Chapter 2's consumer group reads and ``XACK``s while a writer appends; the link drops and the master dies.

    The consumer is :class:`workshop.pubsub.streams.GroupConsumer` on a Sentinel-managed client:
    every reconnection asks the Sentinels where the master is. Its polls fail while there is no
    master and succeed again on the new one. The group's state — its last delivered id, the
    pending entries, every ``XACK`` — is replicated like the entries themselves: asynchronously.
    """
    from redis.exceptions import RedisError

    from workshop.config import Namespace
    from workshop.pubsub.streams import GroupConsumer, ensure_group

    ns = Namespace("sentinel")
    r, rc = group.master(), group.master()  # writer and consumer: one connection pool each
    stream = f"consumed:{'wait' if wait else 'nowait'}"
    handled: list[tuple[float, str]] = []  # (when, event id)
    consumer = GroupConsumer(
        rc, ns, stream, "readers", "c1", lambda e: handled.append((time.monotonic(), e.event_id)), claim_idle_ms=500
    )
    await ensure_group(r, consumer.key, "readers")
    await r.wait(1, 2000)  # the group exists on the replica too before anything fails
    writer = StreamWriter(r, consumer.key, wait)
    errors = 0
    stop_writing, stop_reading = asyncio.Event(), asyncio.Event()

    async def consume() -> None:
        nonlocal errors
        while not stop_reading.is_set():
            try:
                await consumer.poll(block_ms=100)
            except (RedisError, OSError):
                errors += 1
                await asyncio.sleep(0.05)

    reading = asyncio.create_task(consume(), name="group consumer")
    writing = asyncio.create_task(writer.run_until(stop_writing), name="xadd writer")
    try:
        await until(
            lambda: len(writer.acked) >= warmup and len(handled) >= warmup // 2,
            timeout=timeout,
            what=f"{warmup} XADDs and the consumer reading them",
        )
        old = await asyncio.to_thread(group.master_name) or "redis0"
        replica = "redis1" if old == "redis0" else "redis0"
        with group.link_down(old, replica):
            await asyncio.sleep(down)
            killed_at = group.kill(old)
        new = await group.wait_for_master(other_than=old, timeout=timeout)
        await until(
            lambda: writer.written_since(killed_at) >= after, timeout=timeout, what=f"{after} XADDs on the new master"
        )
        stop_writing.set()
        await asyncio.wait_for(asyncio.shield(writing), timeout)

        async def drained() -> bool:
            present = set(await stream_ids(r, writer.key))
            seen = {e for _, e in handled}
            return present <= seen and (await consumer.pending())["pending"] == 0

        await until(drained, timeout=timeout, every=0.2, what="the consumer to handle every entry of the new master")
    finally:
        stop_writing.set()
        stop_reading.set()
        await asyncio.wait_for(asyncio.gather(writing, reading, return_exceptions=True), timeout)
    present = set(await stream_ids(r, writer.key))
    await r.aclose()
    await rc.aclose()
    counts = Counter(e for _, e in handled)
    return ConsumerFailover(
        wait,
        len(writer.acked),
        sum(1 for _, e in writer.acked if e not in present),
        len(counts),
        sum(1 for n in counts.values() if n > 1),
        sum(1 for e in counts if e not in present),
        len(present - set(counts)),
        next((t for t, _ in handled if t > killed_at), killed_at) - killed_at,
        errors,
        old,
        new,
    )
