"""The shared shape of a benchmark report: a figure next to its baseline, measured in pairs.

A *figure* is one measured value (say, the package's consume rate) and its *baseline*
measured in the same run (aio-pika's own consume). Machines are noisy, so a figure is
measured as **pairs taken in turn** — A B, A B, A B … (each run of a bench measures both,
on the same data; a short side may be timed twice in a pair, A B A B, its faster run kept:
:func:`paired`) — and what a report states is the ratio of each pair, summarised as
min / first quartile / median / third quartile / max::

    fig = Figure("1 bus", "consume, prefetch 500", "messages/s", "aio-pika alone", target=0.9)
    for a, b in ((9000, 10000), (9500, 10100), (9900, 10000), (8800, 10050), (9700, 9900)):
        fig.add(a, b)
    fig.as_dict()["ratio"]["median"]     # 0.94…: the median of the five pairs' ratios
    fig.verdict()                        # "met", "missed", "unstable" or None (no target)

**The rule** (:func:`judge`): a figure with a target is judged on at least ``PAIRS`` (5)
pairs. It is *unstable* — neither met nor missed — when it has fewer pairs, or when the
target lies strictly between the pairs' first and third quartiles (the middle half of the
ratios falls on both sides of it: the noise is larger than the distance to the target).
Otherwise the median of the ratios decides.

``higher_is_better`` is False for times (set-up seconds), so a ratio above 1 reads "slower".
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# --- what every `workshop bench <name>` shares --------------------------------------------


def parser(name: str, doc: str | None) -> argparse.ArgumentParser:
    """The command line of ``workshop bench <name>``, with ``--json FILE``."""
    p = argparse.ArgumentParser(
        prog=f"workshop bench {name}", description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--json", metavar="FILE", help="also save the results as JSON")
    return p


async def scratch(base: Any, child: str) -> Any:
    """Settings in a throw-away child namespace of ``base``'s (default: the settings'), emptied first."""
    from dataclasses import replace

    from workshop.config import settings
    from workshop.infra.reset import reset_namespace

    base = base or settings()
    s = replace(base, namespace=base.namespace.child(child))
    await reset_namespace(s, quiet=True)
    return s


def rate_row(name: str, n: int, seconds: float, unit: str = "messages") -> dict[str, Any]:
    """One measured rate: ``n`` things in ``seconds``."""
    return {"name": name, "count": n, "seconds": round(seconds, 4), "rate": round(n / seconds, 1), "unit": unit}


def medians(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per name, in first-seen order: the median count, seconds and rate over its rounds."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_name.setdefault(r["name"], []).append(r)
    return [
        {
            **same[0],
            "count": int(statistics.median(r["count"] for r in same)),
            "seconds": statistics.median(r["seconds"] for r in same),
            "rate": statistics.median(r["rate"] for r in same),
            "rounds": len(same),
        }
        for same in by_name.values()
    ]


def verdict_lines(checks: Sequence[tuple[str, bool | None]]) -> list[dict[str, Any]]:
    """Print ``PASS``/``MISS`` per target (``UNSTABLE`` for None: see :func:`judge`); return JSON-ready dicts."""
    for text, ok in checks:
        mark = {True: "PASS", False: "MISS", None: "UNSTABLE"}[ok]
        print(f"{mark}  {text}")
    return [{"target": text, "met": ok} for text, ok in checks]


def save_json(path: str | None, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` (when one was given) and say so."""
    if path:
        with open(path, "w") as f:
            json.dump(payload, f, indent=2)
        print(f"saved {path}")


PAIRS = 5  # the fewest pairs a figure with a target is judged on


async def side(make: Any) -> tuple[float, float]:
    """Time one side of a pair: ``await make()`` returns its own seconds (what it times), and
    ``side`` adds the CPU seconds this process spent in the whole call — or ``make`` returns both
    when only part of the call counts (first to last delivery, not the subscribing). The CPU figure leaves out the servers and the neighbours' load: the steadier measure of
    what a layer costs, on a shared machine, next to the rate that a learner would see."""
    fresh()
    cpu = time.process_time()
    timed = await make()
    if isinstance(timed, tuple):  # (seconds, CPU seconds) timed by the side itself, e.g. first to last delivery
        return timed
    return timed, time.process_time() - cpu


async def paired(
    a: tuple[str, int, Any, str], b: tuple[str, int, Any, str], *, a_first: bool, runs: int = 2, before: Any = None
) -> list[dict[str, Any]]:
    """One pair: sides ``a`` and ``b``, each ``(name, count, make, unit)``, timed ``runs`` times in
    turn (A B A B, or B A B A) with :func:`side`, each side's least disturbed run kept; returns
    their rows (:func:`rate_row` and ``cpu_s``) in the order they ran. ``before()``, when given, is
    awaited before every run, untimed (say, emptying a queue).

    A shared machine's bursts only ever slow a run down, so a side's fastest run is the nearest
    to what it costs; taken in turn, a burst long enough to slow both falls on both. ``runs=2``
    for sides short and self-contained enough to run twice (chapter 2's: well under a second each)."""
    order = (a, b) if a_first else (b, a)
    best: dict[str, tuple[float, float]] = {}
    for _ in range(runs):
        for name, _, make, _ in order:
            if before is not None:
                await before()
            timed = await side(make)
            best[name] = min(best.get(name, timed), timed)
    return [{**rate_row(name, n, best[name][0], unit), "cpu_s": round(best[name][1], 4)} for name, n, _, unit in order]


def cpu_figures(figures: list[Figure], rows: list[dict[str, Any]], names: list[tuple[str, str]]) -> list[Figure]:
    """For each figure with a target, its twin in messages per CPU second of this process (no target)."""
    out = []
    for fig, (a, b) in zip(figures, names):
        twin = Figure(fig.chapter, f"{fig.name}, per CPU second", f"{fig.unit.split('/')[0]}/CPU-s", fig.baseline)
        by_pair: dict[int, dict[str, float]] = {}
        for r in rows:
            if "pair" in r and r.get("cpu_s"):
                by_pair.setdefault(r["pair"], {})[r["name"]] = r["count"] / r["cpu_s"]
        for per in by_pair.values():
            if a in per and b in per:
                twin.add(per[a], per[b])
        if twin.values:
            out.append(twin)
    return out


def fresh() -> None:
    """Collect the garbage before timing one side of a pair, so neither side pays for what the
    other (or the set-up) left behind: a full collection walks every object the process holds,
    tens of milliseconds with the libraries loaded, and would land on whichever side came next.
    What a side itself allocates and keeps while timed is still its own cost."""
    gc.collect()


def spread(values: list[float]) -> dict[str, float] | None:
    """``{"min", "q1", "median", "q3", "max"}`` of ``values`` (None when there are none)."""
    if not values:
        return None
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else values * 3
    return {"min": min(values), "q1": q1, "median": statistics.median(values), "q3": q3, "max": max(values)}


def judge(ratios: list[float], target: float | None, higher_is_better: bool = True) -> str | None:
    """``"met"``, ``"missed"`` or ``"unstable"`` for pairs' ``ratios`` against ``target`` (None: no target).

    Unstable: fewer than ``PAIRS`` pairs, or ``q1 < target < q3`` (see the module's docstring).
    """
    r = spread(ratios)
    if target is None or r is None:
        return None
    if len(ratios) < PAIRS or r["q1"] < target < r["q3"]:
        return "unstable"
    ok = r["median"] >= target if higher_is_better else r["median"] <= target
    return "met" if ok else "missed"


@dataclass
class Figure:
    chapter: str
    name: str
    unit: str
    baseline: str | None = None  # what it is compared with, measured in the same run
    higher_is_better: bool = True
    target: float | None = None  # the ratio to reach (>= when higher is better, <= otherwise)
    values: list[float] = field(default_factory=list)
    baselines: list[float] = field(default_factory=list)

    def add(self, value: float, baseline: float | None = None) -> None:
        self.values.append(float(value))
        if baseline is not None:
            self.baselines.append(float(baseline))

    @property
    def ratios(self) -> list[float]:
        return [v / b for v, b in zip(self.values, self.baselines) if b]

    def verdict(self) -> str | None:
        """``"met"``, ``"missed"``, ``"unstable"`` (see :func:`judge`), or None without a target."""
        return judge(self.ratios, self.target, self.higher_is_better)

    def met(self) -> bool | None:
        """True / False when the pairs judge the target; None without a target or when unstable."""
        return {"met": True, "missed": False}.get(self.verdict() or "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "chapter": self.chapter,
            "figure": self.name,
            "unit": self.unit,
            "runs": len(self.values),
            "value": spread(self.values),
            "baseline": self.baseline,
            "baseline_value": spread(self.baselines),
            "ratio": spread(self.ratios),
            "higher_is_better": self.higher_is_better,
            "target": self.target,
            "met": self.met(),
            "verdict": self.verdict(),
        }


def _num(v: float) -> str:
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:.2f}" if v >= 0.1 else f"{v:.4f}"


def _range(s: dict[str, float] | None, fmt=_num) -> str:
    if s is None:
        return "—"
    return fmt(s["median"]) if s["min"] == s["max"] else f"{fmt(s['median'])} ({fmt(s['min'])}–{fmt(s['max'])})"


def _ratio(s: dict[str, float] | None) -> str:
    """The pairs' median ratio, then the middle half of them (q1–q3) when there are several."""
    if s is None:
        return "—"
    if s["min"] == s["max"]:
        return f"{s['median']:.2f}x"
    return f"{s['median']:.2f}x ({s['q1']:.2f}–{s['q3']:.2f}x)"


MARK = {"met": "✓", "missed": "✗", "unstable": "unstable"}


def markdown(figures: list[dict[str, Any]]) -> str:
    """One Markdown table: each figure's median (min–max), its baseline, the pairs' ratio and the verdict."""
    lines = [
        "| chapter | figure | pairs | value, median (min–max) | baseline (same run) | ratio, median (q1–q3) | target |",
        "| --- | --- | ---: | --- | --- | --- | --- |",
    ]
    for f in figures:
        base = f"{f['baseline']}: {_range(f['baseline_value'])}" if f["baseline"] else "—"
        verdict = f.get("verdict") or {True: "met", False: "missed"}.get(f["met"], "unstable")
        target = (
            "—"
            if f["target"] is None
            else (f"{'≥' if f['higher_is_better'] else '≤'} {f['target']:g}x {MARK[verdict]}")
        )
        lines.append(
            f"| {f['chapter']} | {f['figure']} | {f['runs']} | {_range(f['value'])} {f['unit']} | "
            f"{base} | {_ratio(f['ratio'])} | {target} |"
        )
    return "\n".join(lines)
