"""``workshop bench all``: every chapter's benchmark, one JSON report and one Markdown table.

Each figure stands next to its baseline **measured in the same run** — the client
library's own rate (aio-pika, redis-py, aiortc), the server's (``redis-benchmark``, a
plain ``COPY``) or the slow way the lesson is about. Each chapter's bench runs ``--runs``
times (default 5), so every figure is a series of pairs taken in turn — A B, A B, … on the
same data — and the report gives the median of the pairs' ratios with its spread, and a
verdict per target: ✓, ✗, or *unstable* when the spread is too wide to judge
(the rule: :func:`workshop.bench._report.judge`). Chapters 1–3 take their pairs in one run,
each pair back to back and the order flipping every round (A B, B A, …: whatever the first
leaves behind, a broker's disk backlog or a warm cache, falls on both sides alike).

    workshop bench all --quick                          # under two minutes on 2 cores
    workshop bench all --json report.json --markdown report.md
    workshop bench all --only bus,pubsub --scale 0.1    # a smoke test

A chapter benchmark this file has no adapter for (a new ``workshop/bench/<name>.py``) is still run,
with ``--quick --json``: its rows that carry a ``vs_…`` ratio are reported with one run (no target).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import io
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from workshop.bench import _report
from workshop.bench._report import Figure

Figures = dict[str, Figure]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _sized(sizes: dict[str, int], scale: float, least: int = 5) -> dict[str, int]:
    return {k: (max(least, int(v * scale)) if v else 0) for k, v in sizes.items()}


def _fig(
    figs: Figures, chapter: str, name: str, unit: str, baseline: str | None, value: float, base: float | None, **kw: Any
) -> None:
    key = f"{chapter}|{name}"
    if key not in figs:
        figs[key] = Figure(chapter, name, unit, baseline, **kw)
    figs[key].add(value, base)


# --- one adapter per chapter: run its bench once, add its figures -------------------------------

# quick: every confirmed publish costs a disk write, and the consume figures need their queues
# filled first, so chapter 1 is the slowest bench on a loaded machine: small counts
BUS = {
    "quick": {"course": 10, "sequential": 100, "concurrent": 1000, "consume": 2000, "orders": 0},
    "full": {"course": 100, "sequential": 1000, "concurrent": 10000, "consume": 10000, "orders": 200},
}


def _merge(figs: Figures, measured: list[Figure]) -> None:
    """Add a bench's own figures (its interleaved pairs) to the report's."""
    for f in measured:
        key = f"{f.chapter}|{f.name}"
        if key in figs:
            figs[key].values += f.values
            figs[key].baselines += f.baselines
        else:
            figs[key] = f


def bus(size: str, scale: float, figs: Figures, pairs: int = 1) -> None:
    from workshop.bench import bus as b

    _merge(figs, b.figures(asyncio.run(b.run(_sized(BUS[size], scale), pairs=pairs))))


PUBSUB = {
    "quick": {"delivered": 1500, "one_by_one": 200, "pipelined": 1500, "streams": 1500, "server": 5000},
    "full": {"delivered": 8000, "one_by_one": 1500, "pipelined": 8000, "streams": 8000, "server": 50000},
}


def pubsub(size: str, scale: float, figs: Figures, pairs: int = 1) -> None:
    from workshop.bench import pubsub as b

    counts = _sized(PUBSUB[size], scale)
    counts["server"] = max(1000, counts["server"])  # redis-benchmark rounds a tiny run's rate to "inf"
    _merge(figs, b.figures(asyncio.run(b.run(counts, pairs=pairs))))


STORE = {
    "quick": {"single": 60, "batches": 20, "events": 2000},
    "full": {"single": 300, "batches": 100, "events": 10000},
}


def store(size: str, scale: float, figs: Figures, pairs: int = 1) -> None:
    from workshop.bench import store as b
    from workshop.config import settings

    try:
        import eventsourcing  # noqa: F401

        peer = True
    except ImportError:
        peer = False
    n = _sized(STORE[size], scale)
    r = b.run(
        settings(),
        single=n["single"] * pairs,  # the counts are per round
        batches=n["batches"] * pairs,
        events=max(100, n["events"]),
        repeat=1,
        rounds=pairs,
        peer=peer,
        log=lambda m: None,
    )
    _merge(figs, b.figures(r))


CQRS = {
    "quick": {"events": 2000, "commands": 40, "lag_rate": 100.0, "lag_seconds": 0.5},
    "full": {"events": 100_000, "commands": 300, "lag_rate": 200.0, "lag_seconds": 3.0},
}


def cqrs(size: str, scale: float, figs: Figures) -> None:
    from dataclasses import replace

    from workshop.bench import cqrs as b
    from workshop.config import Namespace, settings

    n = CQRS[size]
    base = settings()
    s = replace(base, namespace=Namespace(f"{base.namespace.name[:30]}_bench4"))  # as `workshop bench cqrs`
    r = asyncio.run(
        b.run(
            s,
            events=max(200, int(n["events"] * scale)),
            commands=max(10, int(n["commands"] * scale)),
            lag_rate=n["lag_rate"],
            lag_seconds=max(0.2, n["lag_seconds"] * min(1.0, scale)),
            log=lambda m: None,
            pairs=1,  # one pair per run, taken in turn inside it: bench all's runs make the pairs
        )
    )
    f, c = r["figures"], r["ceilings"]
    ch = "4 CQRS"
    _fig(
        figs,
        ch,
        "commands through the write API (HTTP)",
        "commands/s",
        "single appends to the store",
        f["commands_per_s_http"],
        c["single_appends_per_s"],
        target=0.5,
    )
    _fig(
        figs,
        ch,
        f"p99 lag, command → visible, at {n['lag_rate']:.0f}/s",
        "ms",
        "bare bus round trip, p99",
        f["lag_p99_ms"],
        c["bus_round_trip_ms"]["p99"],
        higher_is_better=False,
        target=10,
    )
    _fig(
        figs,
        ch,
        "projection into the users table",
        "events/s",
        "bare read_all",
        f["projection_events_per_s"],
        c["read_all_events_per_s"],
    )
    _fig(
        figs,
        ch,
        "blue/green rebuild",
        "events/s",
        "bare read_all",
        f["rebuild_events_per_s"],
        c["read_all_events_per_s"],
        target=0.5,
    )


def webrtc(size: str, scale: float, figs: Figures) -> None:
    from workshop.bench import webrtc as b

    cfg = dict(b.QUICK if size == "quick" else b.FULL)
    cfg["pairs"] = max(1, round(cfg["pairs"] * min(1.0, scale)))
    cfg["seconds"] = max(0.5, cfg["seconds"] * min(1.0, scale))
    cfg["messages"] = max(5, int(cfg["messages"] * scale))
    rows = {r["name"]: r for r in asyncio.run(b.run(cfg))}
    bare = rows["set-up: bare aiortc (ceiling)"]["values"]
    ch = "5 WebRTC"
    for kind, target in (("host", None), ("relay (TURN)", 2.0)):
        for value, base in zip(rows[f"set-up: {kind} via signaling"]["values"], bare):  # each interleaved pair
            _fig(
                figs,
                ch,
                f"call set-up, {kind} via signaling",
                "s",
                "bare aiortc",
                value,
                base,
                higher_is_better=False,
                target=target,
            )
    fps = next(r for name, r in rows.items() if name.startswith("frames/s"))
    _fig(
        figs,
        ch,
        f"frames/s received, {cfg['width']}x{cfg['height']}@{cfg['fps']}",
        "fps",
        "frames sent",
        fps["value"],
        fps["sent_fps"],
        target=0.95,
    )


# benches that take their pairs themselves, back to back and in alternating order, in one run
PAIRED: dict[str, Callable[[str, float, Figures, int], None]] = {"bus": bus, "pubsub": pubsub, "store": store}
# benches run once per pair: each run measures a figure and its baseline once
ADAPTERS: dict[str, Callable[..., None]] = {**PAIRED, "cqrs": cqrs, "webrtc": webrtc}
CHAPTERS = {
    "bus": "1 bus",
    "pubsub": "2 pub/sub",
    "store": "3 event store",
    "cqrs": "4 CQRS",
    "webrtc": "5 WebRTC",
    "cluster": "7 cluster",
    "replicas": "8 replicas",
}


def generic(name: str, figs: Figures) -> None:
    """A bench without an adapter: its own ``--quick --json`` run; rows with a ``vs_…`` ratio count."""
    module = importlib.import_module(f"workshop.bench.{name}")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "out.json")
        with contextlib.redirect_stdout(io.StringIO()):
            module.main(["--quick", "--json", path])
        saved = json.load(open(path))
    chapter = CHAPTERS.get(name, name)
    for row in saved.get("results", []):
        value = row.get("rate", row.get("value"))
        for key, ratio in row.items():
            if key.startswith("vs_") and isinstance(ratio, (int, float)) and ratio and isinstance(value, (int, float)):
                _fig(
                    figs,
                    chapter,
                    str(row.get("name", "?")),
                    str(row.get("unit", "")),
                    key[3:].replace("_", " "),
                    value,
                    value / ratio,
                )


# --- the whole run ------------------------------------------------------------------------------


def machine() -> str:
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or platform.machine()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return f"{os.cpu_count()} CPU(s), {model}, {platform.system()} {platform.release()}, load average {load}"


def run(
    names: list[str],
    *,
    size: str = "quick",
    scale: float = 1.0,
    runs: int | None = None,
    progress: Callable[[str], None] = _log,
) -> dict[str, Any]:
    """Run the benches ``names``; returns the report (``figures`` in the shape of :mod:`._report`)."""
    figs: Figures = {}
    seconds: dict[str, float] = {}
    errors: dict[str, str] = {}
    started = datetime.now(UTC)
    for name in names:
        n = (runs or _report.PAIRS) if name in ADAPTERS else 1  # fewer than PAIRS: targets read "unstable"
        start = time.perf_counter()
        for i in range(1 if name in PAIRED else n):
            progress(f"bench all: {name} " + (f"{n} pairs …" if name in PAIRED else f"run {i + 1}/{n} …"))
            try:
                if name in PAIRED:
                    PAIRED[name](size, scale, figs, n)
                elif name in ADAPTERS:
                    ADAPTERS[name](size, scale, figs)
                else:
                    generic(name, figs)
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - one chapter failing must not lose the others
                errors[name] = f"{type(exc).__name__}: {exc}".splitlines()[0]
                progress(f"bench all: {name} failed: {errors[name]}")
                break
        seconds[name] = round(time.perf_counter() - start, 1)
    return {
        "benchmark": "all",
        "date": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "size": size,
        "scale": scale,
        "seconds": seconds,
        "total_seconds": round(sum(seconds.values()), 1),
        "errors": errors,
        "figures": [f.as_dict() for f in sorted(figs.values(), key=lambda f: f.chapter)],
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Measured {report['date']} on {report['machine']} ({report['size']} sizes, "
        f"{report['total_seconds']:.0f} s in all).",
        "",
        _report.markdown(report["figures"]),
    ]
    for name, error in report["errors"].items():
        lines.append(f"\n{name}: not measured ({error})")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    from workshop.bench import available

    benches = [n for n in available() if n != "all"]
    p = argparse.ArgumentParser(
        prog="workshop bench all", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="small sizes: the whole run in under two minutes")
    p.add_argument("--json", metavar="FILE", help="save the report as JSON")
    p.add_argument("--markdown", metavar="FILE", help="save the table as Markdown")
    p.add_argument(
        "--runs", type=int, help=f"runs (pairs) per bench (default {_report.PAIRS}; fewer leave every target unstable)"
    )
    p.add_argument("--scale", type=float, default=1.0, help="multiply every count (e.g. 0.05 for a smoke test)")
    p.add_argument("--only", help=f"comma-separated subset of: {','.join(benches)}")
    args = p.parse_args(argv)
    names = benches if not args.only else [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(benches))
    if unknown:
        p.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(benches)}")
    if args.scale <= 0 or (args.runs is not None and args.runs < 1):
        p.error("--scale must be positive and --runs at least 1")
    report = run(names, size="quick" if args.quick else "full", scale=args.scale, runs=args.runs)
    table = markdown(report)
    print(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
        print(f"saved {args.json}")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table + "\n")
        print(f"saved {args.markdown}")
    return 1 if report["errors"] else 0
