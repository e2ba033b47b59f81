"""A throw-away RabbitMQ cluster of three nodes on this machine — and the faults to inject into it.

    async with Cluster() as cluster:               # three nodes, joined: about 20-40 s on a busy laptop
        print(await cluster.status())              # members and which of them run
        print(await cluster.leader("ws_alice.payment"))   # the node that holds the queue's leader
        await cluster.kill(cluster.nodes[0])       # SIGKILL: a crash, no goodbye
        await cluster.restart(cluster.nodes[0])    # same name and data: it rejoins the cluster
    # every node is stopped and its data deleted here — also after an exception

What it takes to run several nodes on one machine (on real hosts each node has the machine
to itself, and all of this is the default):

* each node has its own **name** (``ws7-1a2b-a@localhost``), **AMQP port**, **distribution
  port** (node-to-node traffic), **management port**, and data and log directories;
* they share the **Erlang cookie** (a secret file in ``$HOME``: nodes whose cookies differ
  refuse to talk) and the machine's **epmd** (the port mapper on 4369, which tells a node where
  another node's distribution port is);
* nodes 2 and 3 **join** node 1 with ``rabbitmqctl join_cluster``, exactly as on real hosts;
* the quorum queues' write-ahead log is kept small (``raft.wal_max_size_bytes``): the default
  (512 MiB) is sized for a server, not for three nodes on a laptop.

The machine's own broker (port 5672, node ``rabbit@localhost``) is never touched. Nodes are
started and stopped by :class:`workshop.process.Server`; RabbitMQ itself decides everything
that happens when one of them dies (who leads a queue, who takes over) — nothing here fails over
by hand.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from workshop.errors import WorkshopError
from workshop.infra.throwaway import DIR_PREFIX
from workshop.process import Server, free_port, port_open

RABBITMQ_BIN = Path(os.environ.get("WORKSHOP_RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))
PLUGINS = ("rabbitmq_management", "rabbitmq_consistent_hash_exchange")
WAL_MAX_BYTES = 8 * 1024 * 1024
# Nodes are spawned from these threads, which live as long as this process: a child started with
# PR_SET_PDEATHSIG gets SIGTERM when the *thread* that spawned it ends, not only the process.
_STARTER = ThreadPoolExecutor(5, thread_name_prefix="cluster-node")
INSTALL = "apt-get install rabbitmq-server (Debian/Ubuntu) or brew install rabbitmq"


@dataclass
class Node:
    """One RabbitMQ node of the cluster: its name, ports, directory and process."""

    name: str
    amqp_port: int
    dist_port: int
    management_port: int
    home: Path
    server: Server
    frozen: bool = False

    @property
    def url(self) -> str:
        """The AMQP URL of this node (heartbeats every 5 s: a frozen node is noticed in ~10 s)."""
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/?heartbeat=5"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.management_port}"

    @property
    def pid(self) -> int | None:
        return self.server.pid

    @property
    def running(self) -> bool:
        return self.server.running

    @property
    def short(self) -> str:
        """``a``, ``b``, ``c``: the letter that tells the nodes apart in a table."""
        return self.name.split("@")[0].rsplit("-", 1)[-1]

    def memory_mib(self) -> float:
        """Resident memory of the node's Erlang VM, in MiB (0 when it is not running)."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except (OSError, TypeError):
            pass
        return 0.0

    def __str__(self) -> str:
        return self.name


@dataclass
class Cluster:
    """Three (``size``) RabbitMQ nodes joined into one cluster, in a temporary directory."""

    size: int = 3
    startup_timeout: float = 180.0  # 2 cores shared with a test suite: a node can take a minute
    ports: list[int] | None = None  # AMQP ports to use (default: free ones)
    nodes: list[Node] = field(default_factory=list)
    root: Path | None = None

    # --- start and stop -------------------------------------------------------------------
    def start(self) -> Cluster:
        """Start every node, join them, return once the cluster runs; a one-line error otherwise."""
        if self.nodes:
            return self
        for tool in ("rabbitmq-server", "rabbitmqctl"):
            if not (RABBITMQ_BIN / tool).is_file():
                raise WorkshopError(
                    f"RabbitMQ is not installed here ({RABBITMQ_BIN / tool} is missing), so no "
                    f"throw-away cluster can start: {INSTALL}"
                )
        ports = list(self.ports or [])
        for port in ports:
            if port_open("127.0.0.1", port):
                raise WorkshopError(
                    f"cannot start the throw-away RabbitMQ cluster: port {port} is taken "
                    "by another program (choose other ports, or stop what listens there)"
                )
        self.root = Path(tempfile.mkdtemp(prefix=DIR_PREFIX))
        try:
            self._write_shared_files()
            token = secrets.token_hex(2)
            for i in range(self.size):
                letter = "abcdefghi"[i]
                amqp = ports[i] if i < len(ports) else free_port()
                self.nodes.append(self._node(f"ws7-{token}-{letter}@localhost", amqp, free_port(), free_port()))
            self._start_servers(self.nodes)
            self._join(self.nodes[1:], self.nodes[0])
        except BaseException:
            self.stop()
            raise
        return self

    def _join(self, joining: list[Node], seed: Node) -> None:
        """What an operator types on hosts 2 and 3: stop the app, join node 1, start the app again.

        The stops and starts run side by side (each ``rabbitmqctl`` call takes seconds on a busy
        machine); the joins one after the other, as RabbitMQ's clustering guide asks.
        """

        def each(command: str) -> None:
            for future in [_STARTER.submit(self.ctl, n, command) for n in joining]:
                future.result()

        each("stop_app")
        for node in joining:
            self.ctl(node, "join_cluster", seed.name)
        each("start_app")

    def _write_shared_files(self) -> None:
        assert self.root is not None
        home = self.root / "home"
        home.mkdir()
        cookie = home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16).upper())
        cookie.chmod(0o400)  # Erlang refuses a cookie others can read
        (self.root / "enabled_plugins").write_text(f"[{','.join(PLUGINS)}].\n")
        (self.root / "rabbitmq-env.conf").write_text(
            "# empty: the machine's /etc/rabbitmq/rabbitmq-env.conf must not apply to these nodes\n"
        )

    def _node(self, name: str, amqp: int, dist: int, management: int) -> Node:
        assert self.root is not None
        home = self.root / name.split("@")[0]
        home.mkdir()
        (home / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{amqp}\n"
            f"management.tcp.port = {management}\n"
            "management.tcp.ip = 127.0.0.1\n"
            f"raft.wal_max_size_bytes = {WAL_MAX_BYTES}\n"
            "cluster_partition_handling = pause_minority\n"
        )
        env = {
            **self._env(),
            "RABBITMQ_NODENAME": name,
            "RABBITMQ_NODE_PORT": str(amqp),
            "RABBITMQ_DIST_PORT": str(dist),
            "RABBITMQ_MNESIA_BASE": str(home / "data"),
            "RABBITMQ_LOG_BASE": str(home / "log"),
            "RABBITMQ_CONFIG_FILE": str(home / "rabbitmq"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(home / "pid"),
            # exec the Erlang VM in place of the start script (-noinput keeps it a server): the
            # process we start IS the node, so SIGKILL/SIGSTOP reach RabbitMQ itself
            "RABBITMQ_ALLOW_INPUT": "1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-noinput",
        }
        server = Server(
            f"RabbitMQ node {name} (AMQP port {amqp})",
            [str(RABBITMQ_BIN / "rabbitmq-server")],
            ready=lambda: _booted(home / "console.log"),
            log=home / "console.log",
            env=env,
            startup_timeout=self.startup_timeout,
            stop_timeout=15.0,
        )
        return Node(name, amqp, dist, management, home, server)

    def _env(self) -> dict[str, str]:
        """What the nodes and ``rabbitmqctl`` share: the cookie (via ``HOME``) and no machine-wide env file."""
        assert self.root is not None
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        return {
            **keep,
            "HOME": str(self.root / "home"),
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def _start_servers(self, nodes: list[Node]) -> None:
        for node in nodes:  # each port is checked right before its node starts: a clear line, not a crash dump
            for port, what in (
                (node.amqp_port, "AMQP"),
                (node.dist_port, "distribution"),
                (node.management_port, "management"),
            ):
                if port_open("127.0.0.1", port):
                    raise WorkshopError(f"cannot start {node.name}: its {what} port {port} is taken by another program")
        for future in [_STARTER.submit(n.server.start) for n in nodes]:  # the nodes boot side by side
            future.result()

    def stop(self) -> None:
        """Stop every node and delete the cluster's data. Safe to call twice, also after a failed start.

        A throw-away cluster keeps nothing, so there is nothing to shut down gracefully: each node
        is thawed (a frozen process ignores SIGTERM) and killed, then its data deleted.
        """
        for node in self.nodes:
            if node.running:
                node.server.signal(signal.SIGCONT)
                node.server.signal(signal.SIGKILL)
        for node in self.nodes:
            node.server.stop()
        self.nodes = []
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    async def astart(self) -> Cluster:
        return await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Cluster:
        return await self.astart()

    async def __aexit__(self, *exc: object) -> None:
        await self.astop()

    # --- what a client needs ----------------------------------------------------------------
    @property
    def urls(self) -> list[str]:
        """Every node's AMQP URL, in order: what a client that fails over is given."""
        return [n.url for n in self.nodes]

    def node(self, name: str) -> Node:
        """The node called ``name`` (full name or its letter)."""
        for n in self.nodes:
            if name in (n.name, n.short):
                return n
        raise WorkshopError(f"no node {name!r} in this cluster: {', '.join(n.name for n in self.nodes)}")

    # --- looking at it ----------------------------------------------------------------------
    def ctl(self, node: Node, *args: str, timeout: float = 120.0) -> str:
        """Run ``rabbitmqctl -n <node> <args>`` (as an operator would); its output, or a one-line error."""
        argv = [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", node.name, "-q", *args]
        try:
            done = subprocess.run(argv, env=self._env(), capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise WorkshopError(
                f"rabbitmqctl {' '.join(args)} on {node.name} did not answer in {timeout:g} s"
            ) from None
        if done.returncode != 0:
            last = " ".join((done.stderr.strip() or done.stdout.strip() or "no output").split())[:1500]
            raise WorkshopError(f"rabbitmqctl {' '.join(args)} on {node.name} failed: {last}")
        return done.stdout

    async def status(self, via: Node | None = None) -> dict[str, Any]:
        """``rabbitmqctl cluster_status``, asked of ``via`` (default: the first running node).

        ``{"members": [...], "running": [...], "partitions": {...}, "alarms": [...]}``.
        """
        node = via or self._any_running()
        out = await asyncio.to_thread(self.ctl, node, "cluster_status", "--formatter", "json")
        raw = json.loads(out)
        return {
            "members": sorted(raw.get("disk_nodes", []) + raw.get("ram_nodes", [])),
            "running": sorted(raw.get("running_nodes", [])),
            "partitions": raw.get("partitions", {}),
            "alarms": raw.get("alarms", []),
        }

    async def queue(self, name: str, timeout: float = 3.0) -> dict[str, Any]:
        """What the management API says of queue ``name`` (asked of a running, unfrozen node)."""
        import httpx

        last = "no node answered"
        for node in self._answering():
            try:
                async with httpx.AsyncClient(auth=("guest", "guest"), timeout=timeout) as client:
                    r = await client.get(f"{node.management_url}/api/queues/%2F/{quote(name, safe='')}")
            except httpx.HTTPError as exc:
                last = f"{node.name}: {type(exc).__name__}"
                continue
            if r.status_code == 404:
                raise WorkshopError(f"no queue {name!r} in the cluster")
            if r.status_code == 200:
                return r.json()
            last = f"{node.name}: HTTP {r.status_code}"
        raise WorkshopError(f"cannot read queue {name!r} from the cluster's management API ({last})")

    async def leader(self, queue: str) -> str:
        """The node holding ``queue``: a quorum queue's leader, or a classic queue's only home."""
        info = await self.queue(queue)
        return str(info.get("leader") or info.get("node") or "")

    def memory(self) -> dict[str, float]:
        """Resident memory per node, MiB."""
        return {n.name: round(n.memory_mib(), 1) for n in self.nodes}

    def _any_running(self) -> Node:
        for n in self._answering():
            return n
        raise WorkshopError("no node of the cluster is running")

    def _answering(self) -> list[Node]:
        return [n for n in self.nodes if n.running and not n.frozen]

    # --- faults ---------------------------------------------------------------------------
    async def kill(self, node: Node) -> None:
        """SIGKILL the node: a crash (power cut, OOM killer). Its sockets close at once."""
        node.server.signal(signal.SIGCONT)
        node.server.signal(signal.SIGKILL)
        node.frozen = False
        proc = node.server.proc
        if proc is not None:
            await asyncio.to_thread(proc.wait, 10)

    async def freeze(self, node: Node) -> None:
        """SIGSTOP: the node stops answering but keeps its sockets open — what a partition looks like."""
        node.server.signal(signal.SIGSTOP)
        node.frozen = True

    async def thaw(self, node: Node) -> None:
        """SIGCONT: the frozen node carries on where it stopped (and finds the world has moved on)."""
        node.server.signal(signal.SIGCONT)
        node.frozen = False

    async def restart(self, node: Node) -> None:
        """Start a killed node again: same name, same data, so it rejoins the cluster by itself."""
        if not node.running:
            (node.home / "console.log").unlink(missing_ok=True)  # "booted" must mean this boot, not the last one
            await asyncio.wrap_future(_STARTER.submit(node.server.start))

    async def wait_running(self, count: int | None = None, timeout: float = 120.0) -> list[str]:
        """Wait until ``count`` (default: all) members run, as cluster_status sees it."""
        from workshop.waiting import until

        want = self.size if count is None else count
        seen: list[str] = []

        async def enough() -> bool:
            nonlocal seen
            try:
                seen = (await self.status())["running"]
            except WorkshopError:
                return False
            return len(seen) >= want

        await until(
            enough,
            timeout=timeout,
            every=1.0,
            what=f"{want} running node(s) in the cluster",
            detail=lambda: f"running: {seen}",
        )
        return seen


def _booted(console: Path) -> bool:
    """The node printed ``Starting broker... completed``: booted, plugins included (its AMQP port opens earlier)."""
    try:
        return "completed with" in console.read_text(errors="replace")
    except OSError:
        return False
