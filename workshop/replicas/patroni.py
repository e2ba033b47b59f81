"""A throw-away PostgreSQL cluster run by Patroni: one etcd, a primary and a streaming replica.

Patroni is the engine production uses to keep PostgreSQL highly available. Each node runs
a Patroni agent next to its PostgreSQL; the agents keep a **leader key** with a time to live
in etcd. The primary's agent renews it every ``loop_wait`` seconds; when the primary dies, the
key expires after ``ttl`` seconds and the replica's agent takes it and **promotes** its
PostgreSQL. Nothing in this package decides a failover: we start the engines, kill one, and
watch.

    with PatroniCluster() as cluster:          # etcd + node0 (primary) + node1 (replica)
        s = cluster.settings()                 # DATABASE_URL: both nodes, read-write only
        store = await PostgresEventStore.open(s)
        cluster.kill(cluster.leader())         # SIGKILL Patroni and its PostgreSQL
        new = await cluster.wait_for_leader(other_than="node0")

**Finding the primary is libpq's job.** :meth:`PatroniCluster.dsn` lists every node with
``target_session_attrs=read-write``: libpq tries each host in turn and keeps the one that
accepts writes, so a pool that lost its primary simply connects again and lands on the new
one. ``target_session_attrs=standby`` is the read side's connection to the replica.

**Asynchronous or synchronous.** ``synchronous_commit`` is ``remote_apply`` from the start;
with ``synchronous_standby_names`` empty (Patroni's default, ``synchronous_mode: false``) that
means "my own disk only": a commit returns before the replica has the WAL. With
``synchronous_mode: true`` Patroni names the replica as synchronous standby, each commit waits
until the replica has *applied* it, and Patroni promotes only that standby.

The cluster is tiny on purpose (``shared_buffers`` 16 MB, 25 connections, ``ttl`` 8 s) and lives
in a temporary directory that is deleted by :meth:`stop`, which also checks that no etcd,
Patroni or postgres process of it is left. PostgreSQL refuses to run as root, so when we are
root Patroni runs as the ``postgres`` user (``setpriv``) and owns the directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from workshop.config import Settings
from workshop.config import settings as load_settings
from workshop.errors import WorkshopError
from workshop.process import Server, free_port
from workshop.replicas.procs import kill_tree, leftovers, tree
from workshop.waiting import until, until_sync

PG_BIN = Path("/usr/lib/postgresql/15/bin")
INSTALL = "apt-get install patroni etcd-server postgresql-15 (workshop setup installs them)"

# small enough for a 2-core machine shared with the rest of the course
PARAMETERS = {
    "max_connections": 25,  # the least Patroni accepts
    "shared_buffers": "16MB",
    "wal_level": "replica",
    "hot_standby": "on",
    "max_wal_senders": 4,
    "max_replication_slots": 4,
    "wal_keep_size": "64MB",
    "synchronous_commit": "remote_apply",  # local only until Patroni names a synchronous standby
    "wal_receiver_status_interval": "1s",
    "hot_standby_feedback": "on",
    "log_min_messages": "warning",
    "jit": "off",
}


def missing_binaries() -> list[str]:
    """What is not installed among what a cluster needs (empty: ready)."""
    out = [b for b in ("patroni", "etcd") if shutil.which(b) is None]
    return out + ([] if (PG_BIN / "postgres").exists() else [str(PG_BIN / "postgres")])


@dataclass
class Node:
    """One member: its Patroni agent (the process we start), ports and data directory."""

    name: str
    pg_port: int
    rest_port: int
    home: Path
    server: Server | None = None

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def url(self) -> str:
        """This node alone (e.g. to look at a replica directly)."""
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/postgres?connect_timeout=2"

    def rest(self, path: str = "patroni", timeout: float = 2.0) -> tuple[int, Any]:
        """GET Patroni's REST API: (status, JSON body); (0, None) when it does not answer."""
        import httpx

        try:
            r = httpx.get(f"http://127.0.0.1:{self.rest_port}/{path}", timeout=timeout)
        except httpx.HTTPError:
            return 0, None
        try:
            return r.status_code, r.json()
        except ValueError:
            return r.status_code, None

    def pids(self) -> list[int]:
        """The Patroni agent and the postmaster: Patroni detaches the postmaster, so it is not its child."""
        agent = self.server.pid if self.server is not None and self.server.running else None
        return [p for p in (agent, self.postmaster_pid()) if p]

    def postmaster_pid(self) -> int | None:
        """From ``postmaster.pid`` — if that process is alive and really this node's postmaster."""
        import psutil

        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
            return pid if str(self.data_dir) in " ".join(psutil.Process(pid).cmdline()) else None
        except (OSError, ValueError, IndexError, psutil.Error):
            return None


class PatroniCluster:
    """etcd and ``nodes`` Patroni-managed PostgreSQL servers on free loopback ports."""

    def __init__(
        self,
        *,
        nodes: int = 2,
        synchronous: bool = False,
        scope: str = "workshop",
        ttl: int = 8,
        loop_wait: int = 1,
        retry_timeout: int = 3,
        startup_timeout: float = 90.0,
    ) -> None:
        if nodes < 1:
            raise ValueError("a cluster needs at least one node")
        self.count, self.synchronous, self.scope = nodes, synchronous, scope
        self.ttl, self.loop_wait, self.retry_timeout = ttl, loop_wait, retry_timeout
        self.startup_timeout = startup_timeout
        self.home: Path | None = None
        self.etcd: Server | None = None
        self.etcd_port = 0
        self.nodes: list[Node] = []
        self._pids: set[int] = set()  # every process of ours we ever saw: checked at stop()

    # --- addresses ---------------------------------------------------------------------
    def dsn(self, target: str = "read-write") -> str:
        """All nodes in one libpq URL; libpq keeps the first that matches ``target_session_attrs``.

        ``read-write``: the primary, wherever it is now. ``standby``: a replica.
        """
        hosts = ",".join(f"127.0.0.1:{n.pg_port}" for n in self.nodes)
        return f"postgresql://postgres@{hosts}/postgres?target_session_attrs={target}&connect_timeout=2"

    def settings(self, s: Settings | None = None, target: str = "read-write") -> Settings:
        """``s`` (default: yours) with ``DATABASE_URL`` pointing at this cluster."""
        return replace(s or load_settings(), database_url=self.dsn(target))

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    # --- starting and stopping ---------------------------------------------------------
    def start(self) -> PatroniCluster:
        missing = missing_binaries()
        if missing:
            raise WorkshopError(f"cannot start a Patroni cluster: {', '.join(missing)} not installed — {INSTALL}")
        self.home = Path(tempfile.mkdtemp(prefix="workshop-patroni-"))
        try:
            self._own(self.home)
            self._start_etcd()
            for i in range(self.count):
                node = Node(f"node{i}", free_port(), free_port(), self.home / f"node{i}")
                node.home.mkdir()
                self._own(node.home)
                self.nodes.append(node)
            for i, node in enumerate(self.nodes):
                self._start_node(node, role="primary" if i == 0 else "replica")
            if self.synchronous and self.count > 1:
                self._wait_sync_standby()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_etcd(self) -> None:
        assert self.home is not None
        self.etcd_port, peer = free_port(), free_port()
        client, peer_url = f"http://127.0.0.1:{self.etcd_port}", f"http://127.0.0.1:{peer}"
        argv = [
            "etcd",
            "--name",
            "etcd0",
            "--data-dir",
            str(self.home / "etcd"),
            "--listen-client-urls",
            client,
            "--advertise-client-urls",
            client,
            "--listen-peer-urls",
            peer_url,
            "--initial-advertise-peer-urls",
            peer_url,
            "--initial-cluster",
            f"etcd0={peer_url}",
            "--log-level",
            "warn",
            "--quota-backend-bytes",
            str(64 * 2**20),
        ]
        self.etcd = Server("etcd", argv, ready=self._etcd_ready, log=self.home / "etcd.log", startup_timeout=30)
        self.etcd.start()
        if self.etcd.pid:
            self._pids.add(self.etcd.pid)

    def _etcd_ready(self) -> bool:
        import httpx

        try:
            return httpx.get(f"http://127.0.0.1:{self.etcd_port}/health", timeout=1).json().get("health") == "true"
        except (httpx.HTTPError, ValueError):
            return False

    def _start_node(self, node: Node, role: str) -> None:
        config = node.home / "patroni.yml"
        config.write_text(json.dumps(self._config(node), indent=1))  # JSON is YAML
        self._own(config)
        path = "primary" if role == "primary" else "replica"
        node.server = Server(
            f"patroni {node.name}",
            [*self._as_postgres(), "patroni", str(config)],
            ready=lambda: node.rest(path, timeout=1)[0] == 200 and self._streaming(node, role) and self._listed(node),
            log=node.home / "patroni.log",
            env=self._env(node),
            startup_timeout=self.startup_timeout,
            stop_timeout=20,
        )
        node.server.start()
        self._remember(node)

    def _streaming(self, node: Node, role: str) -> bool:
        if role == "primary":
            return True
        # the primary's view: its WAL sender to this node is streaming
        leader = self.leader()
        if leader is None:
            return False
        status, body = leader.rest("patroni", timeout=1)
        return status == 200 and any(
            r.get("application_name") == node.name and r.get("state") == "streaming"
            for r in (body or {}).get("replication", [])
        )

    def _listed(self, node: Node) -> bool:
        """Patroni's own view (what :meth:`members` shows) says it runs: a member's state in etcd
        lags its REST answer by up to one HA cycle (``starting`` until then)."""
        return any(m.get("name") == node.name and m.get("state") in ("running", "streaming") for m in self.members())

    def _config(self, node: Node) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "name": node.name,
            "restapi": {"listen": f"127.0.0.1:{node.rest_port}", "connect_address": f"127.0.0.1:{node.rest_port}"},
            "etcd3": {"hosts": [f"127.0.0.1:{self.etcd_port}"]},
            "log": {"level": "WARNING"},
            "bootstrap": {
                "dcs": {
                    "ttl": self.ttl,
                    "loop_wait": self.loop_wait,
                    "retry_timeout": self.retry_timeout,
                    "maximum_lag_on_failover": 16 * 2**20,
                    "synchronous_mode": self.synchronous,
                    "postgresql": {"use_pg_rewind": False, "use_slots": True, "parameters": PARAMETERS},
                },
                "initdb": [{"encoding": "UTF8"}, {"auth": "trust"}, "no-sync"],  # throw-away: skip the fsyncs
            },
            "postgresql": {
                "listen": f"127.0.0.1:{node.pg_port}",
                "connect_address": f"127.0.0.1:{node.pg_port}",
                "data_dir": str(node.data_dir),
                "bin_dir": str(PG_BIN),
                "pgpass": str(node.home / "pgpass"),
                "authentication": {"superuser": {"username": "postgres"}, "replication": {"username": "postgres"}},
                "parameters": {"unix_socket_directories": str(node.home)},
                "basebackup": [{"checkpoint": "fast"}, "no-sync"],  # clone the primary without waiting
                "pg_hba": [
                    "local all all trust",
                    "host all all 127.0.0.1/32 trust",
                    "host replication all 127.0.0.1/32 trust",
                ],
            },
            "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
        }

    @staticmethod
    def _root() -> bool:
        return os.geteuid() == 0

    def _as_postgres(self) -> list[str]:
        """PostgreSQL refuses root: run Patroni (and so PostgreSQL) as ``postgres`` then."""
        if not self._root():
            return []
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--pdeathsig=SIGTERM", "--"]

    def _env(self, node: Node) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        return {**env, "HOME": str(node.home), "PATRONI_LOG_LEVEL": "WARNING"}

    def _own(self, path: Path) -> None:
        if self._root():
            pw = pwd.getpwnam("postgres")
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def _remember(self, node: Node) -> None:
        self._pids.update(p.pid for pid in node.pids() for p in tree(pid))

    def stop(self) -> None:
        """Stop every node, then etcd; delete the directory; fail if a process of ours is left."""
        # throw-away data: no clean shutdown needed, and SIGKILL takes no time
        for node in self.nodes:
            if node.server is not None:
                self._remember(node)
                kill_tree(node.pids())
                node.server.stop()
        if self.etcd is not None:
            self.etcd.stop()
        left = _settle(self._pids, self.home)  # SIGKILLed processes take a moment to go
        names = [_describe(p) for p in left[:3]]
        if left:
            kill_tree(p.pid for p in left)
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)
        if left:
            raise WorkshopError(
                f"the Patroni cluster left {len(left)} process(es) running, killed now: " + "; ".join(names)
            )

    def __enter__(self) -> PatroniCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> PatroniCluster:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    def rejoin(self, name: str) -> Node:
        """A killed node comes back as a new machine would: an empty data directory, cloned from the primary.

        Patroni starts it as a replica of whoever leads now (``pg_basebackup``); with
        ``synchronous_mode`` on, it becomes the synchronous standby again. (A node that kept its
        old data would first have to throw away what it wrote after the others' timeline forked:
        ``pg_rewind``, or a re-clone like this one.)
        """
        node = self.node(name)
        if node.server is not None and node.server.running:
            raise WorkshopError(f"{name} is still running: kill it first")
        if self.leader() is None:
            raise WorkshopError("the cluster has no primary to clone a replica from")
        shutil.rmtree(node.data_dir, ignore_errors=True)
        self._start_node(node, role="replica")
        if self.synchronous:
            self._wait_sync_standby()
        return node

    # --- looking at it -----------------------------------------------------------------
    def members(self) -> list[dict[str, Any]]:
        """Patroni's view (``GET /cluster`` on any live node): name, role, state, lag per member."""
        for node in self.nodes:
            if node.server is not None and node.server.running:
                status, body = node.rest("cluster")
                if status == 200 and body:
                    return body.get("members", [])
        return []

    def leader(self) -> Node | None:
        """The node Patroni says holds the leader key (and runs as primary), if any."""
        for m in self.members():
            if m.get("role") in ("leader", "master", "primary") and m.get("state") == "running":
                return self.node(m["name"])
        return None

    def replicas(self) -> list[Node]:
        return [
            self.node(m["name"])
            for m in self.members()
            if m.get("role") in ("replica", "sync_standby") and m.get("state") in ("running", "streaming")
        ]

    async def wait_for_leader(self, *, other_than: str | None = None, timeout: float = 60.0) -> Node:
        """Until Patroni has a running primary (not ``other_than``); returns it."""

        def probe() -> Node | None:
            node = self.leader()
            return node if node is not None and node.name != other_than else None

        return await until(
            lambda: asyncio.to_thread(probe), timeout=timeout, every=0.2, what="Patroni to promote a new primary"
        )

    async def wait_replicas(self, count: int = 1, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Until ``count`` replicas run and follow the primary's timeline (e.g. after a failover)."""

        def probe() -> list[dict[str, Any]] | None:
            members = self.members()
            leader = next((m for m in members if m.get("role") == "leader" and m.get("state") == "running"), None)
            following = [
                m
                for m in members
                if m.get("role") in ("replica", "sync_standby")
                and m.get("state") == "running"
                and leader
                and m.get("timeline") == leader.get("timeline")
            ]
            return members if leader and len(following) >= count else None

        return await until(
            lambda: asyncio.to_thread(probe),
            timeout=timeout,
            every=0.3,
            what=f"{count} replica(s) to follow the primary",
        )

    def set_synchronous(self, on: bool, timeout: float = 30.0) -> None:
        """Switch Patroni's ``synchronous_mode`` (``PATCH /config``) and wait until it took effect."""
        import httpx

        leader = self.leader()
        if leader is None:
            raise WorkshopError("the cluster has no primary, so its configuration cannot change now")
        r = httpx.patch(f"http://127.0.0.1:{leader.rest_port}/config", json={"synchronous_mode": on}, timeout=5)
        if r.status_code != 200:
            raise WorkshopError(f"Patroni refused the new configuration: HTTP {r.status_code} {r.text[:80]}")
        self.synchronous = on
        if on:
            self._wait_sync_standby(timeout)
        else:
            until_sync(
                lambda: not any(m.get("role") == "sync_standby" for m in self.members()),
                timeout=timeout,
                what="Patroni to drop the synchronous standby",
            )

    def _wait_sync_standby(self, timeout: float = 30.0) -> None:
        until_sync(
            lambda: any(m.get("role") == "sync_standby" for m in self.members()),
            timeout=timeout,
            every=0.2,
            what="Patroni to name a synchronous standby",
        )

    # --- faults --------------------------------------------------------------------------
    def kill(self, node: Node) -> float:
        """SIGKILL the node's Patroni and its PostgreSQL (the machine dies); returns ``time.monotonic()``."""
        assert node.server is not None
        self._remember(node)
        kill_tree(node.pids())
        at = time.monotonic()  # from now on, nothing can be acknowledged by this node
        node.server.stop()  # reaps it (already dead)
        return at

    @contextlib.contextmanager
    def slow_link(self) -> Iterator[int]:
        """Freeze the primary's WAL senders (SIGSTOP): the replica receives nothing meanwhile.

        On one machine the replication link is a kernel buffer and the replica is never
        more than a moment behind; this is what a slow or congested network does to it.
        Yields how many senders were frozen; they continue (SIGCONT) on exit if still alive.
        """
        leader = self.leader()
        if leader is None:
            raise WorkshopError("the cluster has no primary whose WAL senders could be frozen")
        pids = [p.pid for p in tree(leader.postmaster_pid() or 0) if "walsender" in " ".join(_cmdline(p))]
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield len(pids)
        finally:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)


def _settle(pids: set[int], home: Path | None, timeout: float = 10.0) -> list[Any]:
    """What is still alive of ours after up to ``timeout`` seconds (empty: all gone)."""
    try:
        until_sync(
            lambda: not leftovers(pids, home), timeout=timeout, every=0.1, what="the cluster's processes to exit"
        )
    except TimeoutError:
        return leftovers(pids, home)
    return []


def _describe(p: Any) -> str:
    try:
        return f"{p.pid} {' '.join(p.cmdline())[:60]} ({p.status()})"
    except Exception:
        return str(p.pid)


def _cmdline(p: Any) -> list[str]:
    try:
        return p.cmdline()
    except Exception:  # gone, or a zombie
        return []
