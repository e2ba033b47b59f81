"""``workshop bench store`` — our PostgreSQL event store against the ``eventsourcing`` library's.

Same PostgreSQL, same run, same machine: the figures that matter are the ratios.

    workshop bench store                 # table on stdout
    workshop bench store --json out.json # and the numbers as JSON
    workshop bench store --no-peer       # without the eventsourcing library

Operations: single-event appends/s (one writer, each append its own
transaction, expected version checked), batched appends/s (100 events per
transaction), rebuilding a 10,000-event aggregate (events/s) with and without a
snapshot, and the raw fold for reference. A plain COPY of the same batches into a
table of the same shape is measured too: the most this machine's disk and
PostgreSQL allow for durable batches, so our batched rate reads as a share of it.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from workshop.bench._report import PAIRS, Figure, fresh, markdown, parser, save_json
from workshop.config import Settings, settings
from workshop.events import Event
from workshop.store.aggregate import fold, load

TARGETS = {
    "single_ratio": 1.5,  # our single-event appends / the peer's
    "batch_events_per_s": 40_000,
    "rebuild_ratio": 3.0,  # our rebuild events/s / the peer's
    "snapshot_speedup": 20.0,  # full replay time / snapshot load time, at 10,000 events
}


def evolve(state: dict, event: Event) -> dict:
    """The benchmark's aggregate: a counter that remembers the last value."""
    return {"count": state.get("count", 0) + 1, "last": event.data["i"]}


def _tick(stream: str, i: int) -> Event:
    return Event("Ticked", stream, {"i": i, "note": "benchmark event"})


# --- ours ----------------------------------------------------------------------------------


class Ours:
    """Our PostgresEventStore; each method times one round and returns events/s."""

    def __init__(self, store) -> None:
        self.store = store
        self.versions: dict[str, int] = {}

    async def _append(self, stream: str, batch: list[Event]) -> None:
        self.versions[stream] = await self.store.append(stream, batch, self.versions.get(stream, 0))

    async def single(self, n: int) -> float:
        ticks = [[_tick("single-1", i)] for i in range(n)]  # events are made outside the clock
        t = time.perf_counter()
        for batch in ticks:
            await self._append("single-1", batch)  # expected version checked every time
        return n / (time.perf_counter() - t)

    async def batched(self, batches: int) -> float:
        ticks = [[_tick("batch-1", b * 100 + i) for i in range(100)] for b in range(batches)]
        t = time.perf_counter()
        for batch in ticks:
            await self._append("batch-1", batch)
        return batches * 100 / (time.perf_counter() - t)

    async def copy_baseline(self, batches: int) -> float:
        """The machine's ceiling for durable batches: plain COPY, 100 rows per transaction,
        into a table shaped like ours (same indexes), with no lock and no version check.
        The rows are prepared before the clock starts: only the database's share is timed."""
        schema = self.store.schema
        rows = [
            [
                (
                    b * 100 + i + 1,
                    "copy-1",
                    b * 100 + i + 1,
                    "Ticked",
                    json.dumps(vars(e)["data"]),
                    e.timestamp,
                    e.event_id,
                )
                for i, e in enumerate(_tick("copy-1", b * 100 + j) for j in range(100))
            ]
            for b in range(batches)
        ]
        async with self.store.pool.connection() as conn:
            await conn.execute(f'DROP TABLE IF EXISTS "{schema}".copy_baseline')
            await conn.execute(f'CREATE TABLE "{schema}".copy_baseline (LIKE "{schema}".events INCLUDING ALL)')
            t = time.perf_counter()
            for batch in rows:
                async with conn.transaction():
                    async with conn.cursor().copy(
                        f'COPY "{schema}".copy_baseline (position, stream_id, version, event_type, data, '
                        '"timestamp", event_id) FROM STDIN'
                    ) as copy:
                        for row in batch:
                            await copy.write_row(row)
            spent = time.perf_counter() - t
            await conn.execute(f'DROP TABLE "{schema}".copy_baseline')
        return batches * 100 / spent

    async def build_long(self, events: int) -> None:
        while self.versions.get("long-1", 0) < events:
            done = self.versions.get("long-1", 0)
            await self._append("long-1", [_tick("long-1", done + i) for i in range(min(1000, events - done))])

    async def rebuild(self, events: int) -> float:
        t = time.perf_counter()
        loaded = await load(self.store, "long-1", evolve)
        spent = time.perf_counter() - t
        assert loaded.state["count"] == events
        return events / spent

    async def snapshot(self, repeat: int) -> list[tuple[float, float]]:
        """``repeat`` pairs (snapshot load in s, full replay in s) at the long stream's length, back to back."""
        from workshop.store.snapshots import take_snapshot

        await take_snapshot(self.store, "long-1", evolve, tag="bench")
        pairs = []
        for i in range(repeat):
            loaded, seconds = {}, {}
            for tag in ("bench", None) if i % 2 == 0 else (None, "bench"):
                t = time.perf_counter()
                loaded[tag] = await load(self.store, "long-1", evolve, snapshot_tag=tag)
                seconds[tag] = time.perf_counter() - t
            assert loaded["bench"].state == loaded[None].state and loaded["bench"].replayed == 0
            pairs.append((seconds["bench"], seconds[None]))
        return pairs

    async def fold_rate(self, repeat: int) -> float:
        evs = await self.store.read("long-1")
        best = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            fold(evolve, evs)
            best = min(best, time.perf_counter() - t)
        return len(evs) / best


# --- the peer: the eventsourcing library ---------------------------------------------------


def _peer_app(s: Settings):
    from urllib.parse import urlsplit

    from eventsourcing.application import Application

    url = urlsplit(s.database_url)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": url.path.lstrip("/") or "postgres",
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_PASSWORD": url.password or "",
        "POSTGRES_SCHEMA": s.namespace.schema,
        "POSTGRES_CONNECT_TIMEOUT": "5",
    }
    return Application(env=env)


class Peer:
    """The same operations with the eventsourcing library (synchronous psycopg)."""

    def __init__(self, app) -> None:
        from workshop.bench._peer import Counter

        self.app, self.Counter = app, Counter
        self.single_agg, self.batch_agg, self.long_agg = Counter(), Counter(), Counter()
        for agg in (self.single_agg, self.batch_agg, self.long_agg):
            app.save(agg)

    def single(self, n: int) -> float:
        spent = 0.0
        for i in range(n):
            self.single_agg.tick(i)  # the event is made outside the clock, as for ours
            t = time.perf_counter()
            self.app.save(self.single_agg)
            spent += time.perf_counter() - t
        return n / spent

    def batched(self, batches: int) -> float:
        spent = 0.0
        for b in range(batches):
            for i in range(100):
                self.batch_agg.tick(b * 100 + i)
            t = time.perf_counter()
            self.app.save(self.batch_agg)
            spent += time.perf_counter() - t
        return batches * 100 / spent

    def build_long(self, events: int) -> None:
        while self.long_agg.version < events:
            for i in range(min(1000, events - self.long_agg.version)):
                self.long_agg.tick(i)
            self.app.save(self.long_agg)

    def rebuild(self, events: int) -> float:
        t = time.perf_counter()
        got = self.app.repository.get(self.long_agg.id)
        spent = time.perf_counter() - t
        assert got.version == self.long_agg.version
        return got.version / spent


# --- running and reporting -----------------------------------------------------------------


def ratios(
    ours: dict[str, float], peer: dict[str, float] | None, pairs: dict[str, list] | None = None
) -> dict[str, Any]:
    """The targets' ratios: each the median of its pairs' ratios when there are pairs."""

    def median_ratio(key: str, fallback: float) -> float:
        got = [a / b for a, b in (pairs or {}).get(key, []) if a and b]
        return statistics.median(got) if got else fallback

    r: dict[str, Any] = {
        "batch_events_per_s": ours["batch_per_s"],
        "snapshot_speedup": 1 / median_ratio("snapshot", 1 / ours["snapshot_speedup"]),
    }
    if peer:
        r["single_ratio"] = median_ratio("single", ours["single_per_s"] / peer["single_per_s"])
        r["batch_ratio"] = ours["batch_per_s"] / peer["batch_per_s"]
        r["rebuild_ratio"] = median_ratio("rebuild", ours["rebuild_per_s"] / peer["rebuild_per_s"])
    r["batch_vs_copy"] = median_ratio("batch", ours["batch_per_s"] / ours["copy_per_s"])
    r["met"] = {k: r[k] >= v for k, v in TARGETS.items() if k in r}
    return r


def figures(result: dict[str, Any]) -> list[Figure]:
    """The chapter's figures from :func:`run`'s result: one per target, its pairs side by side."""
    ch, peer = "3 event store", result["peer"] is not None
    pairs, events = result["pairs"], result["params"]["events"]
    figs = [
        Figure(
            ch,
            "single-event appends",
            "events/s",
            "eventsourcing library" if peer else None,
            target=1.5 if peer else None,
        ),
        Figure(ch, "batched appends (100/tx)", "events/s", "plain COPY, same batches"),
        Figure(
            ch,
            "rebuild a long aggregate",
            "events/s",
            "eventsourcing library" if peer else None,
            target=3 if peer else None,
        ),
        # the 20x target is set at 10,000 events
        Figure(
            ch,
            "load with a snapshot",
            "ms",
            "full replay",
            higher_is_better=False,
            target=0.05 if events >= 10_000 else None,
        ),
    ]
    for fig, key in zip(figs, ("single", "batch", "rebuild", "snapshot")):
        for a, b in pairs[key]:
            if key == "snapshot":
                a, b = a * 1000, b * 1000  # seconds -> ms
            fig.add(a, b if b else None)
    return figs


def table(ours: dict[str, float], peer: dict[str, float] | None, r: dict[str, Any]) -> str:
    def num(v: float | None, unit: str = "") -> str:
        return "—" if v is None else f"{v:,.0f}{unit}" if v >= 100 else f"{v:,.2f}{unit}"

    p = peer or {}
    rows = [
        (
            "single-event appends",
            num(ours["single_per_s"], " events/s"),
            num(p.get("single_per_s"), " events/s"),
            r.get("single_ratio"),
            "≥ 1.5x",
        ),
        (
            "batched appends (100/tx)",
            num(ours["batch_per_s"], " events/s"),
            num(p.get("batch_per_s"), " events/s"),
            r.get("batch_ratio"),
            "≥ 40,000 events/s",
        ),
        (
            "  plain COPY, same batches",
            num(ours["copy_per_s"], " events/s"),
            "—",
            None,
            f"machine's ceiling; ours = {r['batch_vs_copy']:.0%} of it",
        ),
        (
            "rebuild 10k-event aggregate",
            num(ours["rebuild_per_s"], " events/s"),
            num(p.get("rebuild_per_s"), " events/s"),
            r.get("rebuild_ratio"),
            "≥ 3x",
        ),
        (
            "  with a snapshot",
            f"{ours['snapshot_load_ms']:.2f} ms",
            "—",
            None,
            f"≥ 20x faster: {r['snapshot_speedup']:,.0f}x",
        ),
        ("  raw fold (no I/O)", num(ours["fold_per_s"], " events/s"), "—", None, "reference"),
    ]
    head = ("operation", "workshop", "eventsourcing", "ratio", "target")
    body = [(a, b, c, "—" if d is None else f"{d:.2f}x", e) for a, b, c, d, e in rows]
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(5)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    met = ", ".join(f"{k} {'✓' if v else '✗'}" for k, v in r["met"].items())
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, body), "", f"targets: {met}"])


def run(
    s: Settings,
    *,
    single: int = 500,
    batches: int = 300,
    events: int = 10_000,
    repeat: int = 3,
    rounds: int = PAIRS,
    peer: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Both stores in their own namespace (deleted afterwards); returns every figure.

    The machine is shared and noisy, so the two contenders take turns: ``rounds``
    rounds of each operation, ours and the peer's back to back, the order flipping
    each time (ours first, then theirs first, …); the tables give the medians, and each
    target the median of its pairs' ratios (``result["pairs"]``, :func:`figures`).
    """
    from workshop import connect
    from workshop.infra.reset import reset_namespace
    from workshop.store import PostgresEventStore

    s = replace(s, namespace=s.namespace.child("bench"))
    loop = asyncio.new_event_loop()
    go = loop.run_until_complete
    go(reset_namespace(s, quiet=True))
    store = app = None
    try:
        store = go(PostgresEventStore.open(s, max_size=2))
        ours = Ours(store)
        go(ours.build_long(events))
        theirs = None
        if peer:
            conn = go(connect.postgres(s, autocommit=True))
            go(conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{s.namespace.schema}"'))
            go(conn.close())
            app = _peer_app(s)
            theirs = Peer(app)
            theirs.build_long(events)
        # (ours, baseline) pairs, each timed back to back, the order flipping every time
        pairs: dict[str, list[tuple[float, Any]]] = {"single": [], "batch": [], "rebuild": []}  # Any: float or None
        peer_batch: list[float] = []

        def pair(key: str, a: Callable[[], float], b: Callable[[], float] | None, flip: bool) -> None:
            def timed(side: Callable[[], float]) -> float:
                fresh()
                return side()

            if b is None:
                pairs[key].append((timed(a), None))
            elif flip:
                second = timed(b)
                pairs[key].append((timed(a), second))
            else:
                first = timed(a)
                pairs[key].append((first, timed(b)))

        k, b = max(1, single // rounds), max(1, batches // rounds)  # appends and batches per round
        for r in range(rounds):
            log(f"round {r + 1}/{rounds} …")
            pair("single", lambda: go(ours.single(k)), (lambda: theirs.single(k)) if theirs else None, r % 2 == 1)
            pair("batch", lambda: go(ours.batched(b)), lambda: go(ours.copy_baseline(b)), r % 2 == 1)
            if theirs:
                peer_batch.append(theirs.batched(b))
            for i in range(repeat):
                flip = (r * repeat + i) % 2 == 1
                pair(
                    "rebuild",
                    lambda: go(ours.rebuild(events)),
                    (lambda: theirs.rebuild(events)) if theirs else None,
                    flip,
                )
        pairs["snapshot"] = list(go(ours.snapshot(rounds * repeat)))

        def mid(key: str, side: int) -> float:
            return statistics.median(p[side] for p in pairs[key])

        snap, full = mid("snapshot", 0), mid("snapshot", 1)
        result_ours = {
            "single_per_s": mid("single", 0),
            "batch_per_s": mid("batch", 0),
            "copy_per_s": mid("batch", 1),
            "rebuild_per_s": mid("rebuild", 0),
        }
        result_ours.update(
            rebuild_ms=events / result_ours["rebuild_per_s"] * 1000,
            snapshot_load_ms=snap * 1000,
            snapshot_speedup=full / snap,
            fold_per_s=go(ours.fold_rate(repeat)),
        )
        result_peer = None
        if theirs:
            result_peer = {
                "single_per_s": mid("single", 1),
                "batch_per_s": statistics.median(peer_batch),
                "rebuild_per_s": mid("rebuild", 1),
            }
            result_peer["rebuild_ms"] = events / result_peer["rebuild_per_s"] * 1000
        return {
            "ours": result_ours,
            "peer": result_peer,
            "ratios": ratios(result_ours, result_peer, pairs),
            "pairs": pairs,
            "params": {"single": single, "batches": batches, "events": events, "repeat": repeat, "rounds": rounds},
        }
    finally:
        if app is not None:
            app.close()
        if store is not None:
            go(store.close())
        go(reset_namespace(s, quiet=True))
        loop.close()


def main(argv: list[str]) -> int:
    p = parser("store", __doc__)
    p.add_argument("--single", type=int, default=500, help="single-event appends (default 500)")
    p.add_argument("--batches", type=int, default=300, help="batches of 100 events (default 300)")
    p.add_argument("--events", type=int, default=10_000, help="events in the long aggregate (default 10,000)")
    p.add_argument("--repeat", type=int, default=3, help="rebuilds per round (default 3)")
    p.add_argument(
        "--rounds", type=int, default=PAIRS, help=f"A/B pairs per operation; the median counts (default {PAIRS})"
    )
    p.add_argument("--no-peer", action="store_true", help="skip the eventsourcing library")
    args = p.parse_args(argv)
    peer = not args.no_peer
    if peer:
        try:
            import eventsourcing  # noqa: F401
        except ImportError:
            print(
                "workshop bench store: the peer needs the eventsourcing library: "
                "pip install 'eventsourcing[postgres]' (or use --no-peer)",
                file=sys.stderr,
            )
            return 2
    result = run(
        settings(),
        single=args.single,
        batches=args.batches,
        events=args.events,
        repeat=args.repeat,
        rounds=args.rounds,
        peer=peer,
        log=lambda m: print(m, file=sys.stderr),
    )
    print(table(result["ours"], result["peer"], result["ratios"]))
    print()
    print(markdown([f.as_dict() for f in figures(result)]))
    save_json(args.json, result)
    return 0
