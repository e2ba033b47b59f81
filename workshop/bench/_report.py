"""The shared shape of a benchmark report: a figure next to its baseline, over several runs.

A *figure* is one measured value (say, the package's consume rate) and its *baseline*
measured in the same run (aio-pika's own consume). Machines are noisy, so what a report
states is the ratio, over ``runs`` runs, as min / median / max::

    fig = Figure("1 bus", "consume, prefetch 500", "messages/s", "aio-pika alone")
    fig.add(9000, 10000); fig.add(9500, 10100)
    fig.as_dict()["ratio"]   # {"min": 0.9, "median": 0.92..., "max": 0.94...}

``higher_is_better`` is False for times (set-up seconds), so a ratio above 1 reads "slower".
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import dataclass, field
from typing import Any


# --- what every `workshop bench <name>` shares --------------------------------------------

def parser(name: str, doc: str | None) -> argparse.ArgumentParser:
    """The command line of ``workshop bench <name>``, with ``--json FILE``."""
    p = argparse.ArgumentParser(prog=f"workshop bench {name}", description=doc,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
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


def verdict_lines(checks: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    """Print ``PASS``/``MISS`` per target; return them as JSON-ready dicts."""
    for text, ok in checks:
        print(f"{'PASS' if ok else 'MISS'}  {text}")
    return [{"target": text, "met": ok} for text, ok in checks]


def save_json(path: str | None, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` (when one was given) and say so."""
    if path:
        with open(path, "w") as f:
            json.dump(payload, f, indent=2)
        print(f"saved {path}")


def spread(values: list[float]) -> dict[str, float] | None:
    """``{"min", "median", "max"}`` of ``values`` (None when there are none)."""
    if not values:
        return None
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


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

    def met(self) -> bool | None:
        r = spread(self.ratios)
        if self.target is None or r is None:
            return None
        return r["median"] >= self.target if self.higher_is_better else r["median"] <= self.target

    def as_dict(self) -> dict[str, Any]:
        return {"chapter": self.chapter, "figure": self.name, "unit": self.unit, "runs": len(self.values),
                "value": spread(self.values), "baseline": self.baseline, "baseline_value": spread(self.baselines),
                "ratio": spread(self.ratios), "higher_is_better": self.higher_is_better,
                "target": self.target, "met": self.met()}


def _num(v: float) -> str:
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:.2f}" if v >= 0.1 else f"{v:.4f}"


def _range(s: dict[str, float] | None, fmt=_num) -> str:
    if s is None:
        return "—"
    return fmt(s["median"]) if s["min"] == s["max"] else f"{fmt(s['median'])} ({fmt(s['min'])}–{fmt(s['max'])})"


def markdown(figures: list[dict[str, Any]]) -> str:
    """One Markdown table: median (min–max) of each figure, its baseline, and the ratio."""
    ratio = lambda v: f"{v:.2f}x"  # noqa: E731
    lines = ["| chapter | figure | runs | value, median (min–max) | baseline (same run) | ratio | target |",
             "| --- | --- | ---: | --- | --- | --- | --- |"]
    for f in figures:
        base = f"{f['baseline']}: {_range(f['baseline_value'])}" if f["baseline"] else "—"
        target = "—" if f["target"] is None else (
            f"{'≥' if f['higher_is_better'] else '≤'} {f['target']:g}x {'✓' if f['met'] else '✗'}")
        lines.append(f"| {f['chapter']} | {f['figure']} | {f['runs']} | {_range(f['value'])} {f['unit']} | "
                     f"{base} | {_range(f['ratio'], ratio)} | {target} |")
    return "\n".join(lines)
