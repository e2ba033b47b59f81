"""``workshop doctor``: is every service up? Which version? How fast? And if not, the fix.

In a notebook (the last line of a cell shows the table)::

    from workshop.infra.doctor import doctor
    doctor()                  # works at top level: the probes run in a worker thread
    report = await adoctor()  # the same, awaited on the notebook's own event loop

On the command line::

    workshop doctor           # aligned table; exit code 1 if a required service is down
    workshop doctor --json    # the same as JSON, for scripts

Required services: PostgreSQL, Redis, RabbitMQ, coturn. The RabbitMQ
management UI is optional, and the signaling server is checked only when
``SIGNALING_URL`` is set.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import html
import json
import sys
from dataclasses import dataclass

from workshop.config import Settings
from workshop.config import settings as load_settings
from workshop.fixes import FIXES
from workshop.infra.probes import REQUIRED, TIMEOUT, ProbeResult, run_probes

COLUMNS = ("service", "url", "status", "version", "latency", "fix")

# which chapters cannot run without each service (the rest of the course still can)
NEEDED_BY = {
    "PostgreSQL": "chapters 1, 3 and 4",
    "Redis": "chapters 0, 2 and 4",
    "RabbitMQ": "chapter 1",
    "RabbitMQ management": "chapter 1's broker UI",
    "coturn": "chapter 5 (WebRTC)",
    "signaling": "chapter 5 (WebRTC)",
    "replication": "chapter 8 (replicated data)",
}


@dataclass(repr=False)
class DoctorReport:
    """The doctor's verdict: a table in Jupyter (HTML) and in a terminal (text)."""

    results: list[ProbeResult]

    @property
    def ok(self) -> bool:
        """True when every *required* service answered."""
        return all(r.ok for r in self.results if r.required)

    @property
    def down(self) -> list[ProbeResult]:
        return [r for r in self.results if not r.ok]

    def rows(self) -> list[dict[str, str]]:
        return [
            {
                "service": r.service,
                "url": r.url,
                "status": _status(r),
                "version": r.version,
                "latency": f"{r.latency_ms:.1f} ms" if r.latency_ms is not None else "",
                "fix": r.fix,
            }
            for r in self.results
        ]

    def to_frame(self):
        """The table as a pandas DataFrame (one row per service)."""
        import pandas as pd

        return pd.DataFrame([r.as_dict() for r in self.results])

    def to_json(self) -> str:
        return json.dumps({"ok": self.ok, "services": [r.as_dict() for r in self.results]}, indent=2)

    def __str__(self) -> str:
        rows = [dict(r, fix="") for r in self.rows()]  # fixes are long: listed below the table
        widths = {c: max(len(c), *(len(row[c]) for row in rows)) for c in COLUMNS[:-1]}
        lines = ["  ".join(c.ljust(widths[c]) for c in COLUMNS[:-1]).rstrip()]
        lines += ["  ".join(row[c].ljust(widths[c]) for c in COLUMNS[:-1]).rstrip() for row in rows]
        for r in self.down:
            lines.append("")
            lines.append(f"{r.service}: {r.detail}")
            lines.append(f"  affects: {NEEDED_BY.get(r.service, 'the chapters that use it')}")
            lines.extend(f"  fix: {line}" for line in _fix_lines(r))
        lines.append("")
        lines.append(
            "All required services are up."
            if self.ok
            else "Some required services are down: run the fix above, then `workshop doctor` again."
        )
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{c}</th>" for c in COLUMNS)
        body = []
        for r, row in zip(self.results, self.rows()):
            fix = "<br>".join(f"<code>{html.escape(x)}</code>" for x in _fix_lines(r)) if not r.ok else ""
            detail = f"<br><small>{html.escape(r.detail)}</small>" if r.detail else ""
            if not r.ok:
                detail += f"<br><small>affects {html.escape(NEEDED_BY.get(r.service, 'its chapters'))}</small>"
            cells = [
                html.escape(row["service"]),
                f"<code>{html.escape(row['url'])}</code>",
                html.escape(row["status"]) + detail,
                html.escape(row["version"]),
                html.escape(row["latency"]),
                fix,
            ]
            body.append("<tr>" + "".join(f"<td style='text-align:left'>{c}</td>" for c in cells) + "</tr>")
        verdict = (
            "✅ All required services are up."
            if self.ok
            else "❌ Some required services are down: run the fix, then <code>doctor()</code> again."
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table><p>{verdict}</p>"


def _status(r: ProbeResult) -> str:
    if r.ok:
        return "✅ up"
    return "❌ down" if r.required else "➖ off (optional)"


def _fix_lines(r: ProbeResult) -> list[str]:
    """The exact commands: the Docker one and the native one (or a specific fix)."""
    if r.service in FIXES and r.fix.startswith("`workshop up`"):
        docker, native = FIXES[r.service]
        return [f"native: {native}", f"docker: {docker}"]
    return [r.fix]


async def adoctor(
    settings: Settings | None = None, required: tuple[str, ...] = REQUIRED, timeout: float = TIMEOUT
) -> DoctorReport:
    """``await adoctor()``: probe every service on the running event loop."""
    return DoctorReport(await run_probes(settings or load_settings(), required, timeout))


def doctor(
    settings: Settings | None = None, required: tuple[str, ...] = REQUIRED, timeout: float = TIMEOUT
) -> DoctorReport:
    """Probe every service and return the report (a table when displayed).

    Works both in a script and in a notebook cell, where an event loop is
    already running and ``asyncio.run`` is not allowed: the probes then run on
    a fresh event loop in a worker thread, and this call waits for them.
    """
    coro = adoctor(settings or load_settings(), required, timeout)
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no loop here (a script, the CLI): the simple way
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="doctor") as pool:
        return pool.submit(asyncio.run, coro).result(timeout=timeout * 4)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="workshop doctor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds per probe (default %(default)s)")
    parser.add_argument(
        "--required",
        default=",".join(REQUIRED),
        help="comma-separated services whose absence fails the check (default %(default)s)",
    )
    args = parser.parse_args(argv)
    required = tuple(x.strip() for x in args.required.split(",") if x.strip())
    report = doctor(load_settings(), required, args.timeout)
    print(report.to_json() if args.json else report)
    if not args.json:
        from workshop.infra.throwaway import cluster_nodes

        if nodes := cluster_nodes():
            print(
                f"note: {len(nodes)} throw-away RabbitMQ node(s) of chapter 7's cluster are running "
                "(a notebook's or a test's); `workshop down` stops them"
            )
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
