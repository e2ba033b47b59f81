"""``workshop bench cqrs`` — chapter 4's figures, each next to its ceiling measured in turn with it.

    workshop bench cqrs                      # table on stdout (100,000 events for the rebuild), 5 pairs
    workshop bench cqrs --json out.json      # and the figures as JSON
    workshop bench cqrs --events 2000 --commands 50 --lag-seconds 0.5 --pairs 1   # a smoke test

| figure | ceiling (measured in turn with it) | target |
|---|---|---|
| commands/s through the write API (HTTP, in-process) | the store's single-append rate | ≥ 0.5x |
| p99 lag, command accepted → visible, at 200 commands/s | one bare bus round trip's p99 | ≤ 10x |
| projection events/s (users table, batches of 1,000) | the store's bare ``read_all`` rate | (reported) |
| rebuild events/s (blue/green, batches of 5,000) | the store's bare ``read_all`` rate | ≥ 0.5x |

Every figure is measured as ``--pairs`` pairs taken in turn — ceiling, figure, ceiling, figure …
on the same system — and judged on the median of the pairs' ratios, or called *unstable* when
the target lies inside their middle half (:func:`workshop.bench._report.judge`).

The lag is split into its parts (relay wake-up, relay read, publish, delivery, queued, read,
behind, connection, apply, commit: see ``workshop.cqrs.lag``), as a mean and as the mean of the
slowest 1% of commands, per read model. A command's cost is split by layer in µs: the handler
alone (no HTTP), the handler without the email reservation, and the HTTP layer alone (the same
client and app in front of a handler that answers at once), so each layer reads as a difference.
Eight clients at once show what the API does for a class. The lag run is open-loop: commands leave on
schedule, at most 8 at a time (a machine too slow for the rate queues them before the write side,
where they cost no lag: it is counted from acceptance); the achieved rate is reported.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from dataclasses import replace
from typing import Any

from workshop.bench._report import PAIRS, Figure, markdown, parser, save_json
from workshop.config import Namespace, settings
from workshop.errors import WorkshopError


def _ms(values: list[float], q: int) -> float:
    from workshop.cqrs.lag import percentile

    return percentile(sorted(values), q) if values else float("nan")


async def _fill(store: Any, events: int, log: Any) -> None:
    """``events`` user events: users of 20 events each (created, activated, 18 email changes)."""
    from workshop import users

    per_user = 20
    n_users = max(1, events // per_user)

    def stream(i: int) -> list:
        uid = f"fill-{i}"
        out = [users.UserCreated(uid, "Fill", str(i), f"fill{i}@example.org"), users.UserActivated(uid)]
        out += [users.EmailUpdated(uid, email=f"fill{i}.{k}@example.org") for k in range(per_user - 2)]
        return out

    start = time.perf_counter()
    for first in range(0, n_users, 10):
        await asyncio.gather(
            *(store.append(f"fill-{i}", stream(i), expected_version=0) for i in range(first, min(first + 10, n_users)))
        )
    log(f"filled {n_users * per_user:,} events in {time.perf_counter() - start:.1f} s")


async def _single_appends(store: Any, n: int, prefix: str = "single") -> float:
    from workshop import users

    batches = [[users.UserCreated(f"{prefix}-{i}", "S", str(i), f"{prefix}{i}@example.org")] for i in range(n)]
    start = time.perf_counter()
    for i, batch in enumerate(batches):
        await store.append(f"{prefix}-{i}", batch, expected_version=0)
    return n / (time.perf_counter() - start)


async def _commands(handler: Any, n: int, prefix: str, http: bool, clients: int = 1) -> float:
    import httpx

    from workshop.cqrs import CreateUser
    from workshop.cqrs.write_api import create_app

    bodies = [
        {
            "type": "CreateUser",
            "user_id": f"{prefix}-{i}",
            "first_name": "C",
            "last_name": str(i),
            "email": f"{prefix}.{i}@example.org",
        }
        for i in range(n)
    ]
    if http:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(create_app(handler)), base_url="http://w") as c:

            async def client(mine: list[dict]) -> None:  # each client waits for its answer before the next
                for body in mine:
                    r = await c.post("/commands", json=body)
                    if r.status_code != 201:
                        raise WorkshopError(f"bench cqrs: the write API answered {r.status_code}: {r.text[:200]}")

            start = time.perf_counter()
            await asyncio.gather(*(client(bodies[k::clients]) for k in range(clients)))
            return n / (time.perf_counter() - start)
    commands = [CreateUser.model_validate(b) for b in bodies]
    start = time.perf_counter()
    for command in commands:
        await handler.handle(command)
    return n / (time.perf_counter() - start)


async def _bus_round_trips(s: Any, n: int) -> list[float]:
    """Milliseconds from publish (confirmed) to the handler, one message at a time."""
    from workshop.bus import RabbitBus
    from workshop.events import Event

    bus = await RabbitBus.open(replace(s, namespace=s.namespace.child("rt")))
    arrived: asyncio.Queue = asyncio.Queue()

    async def handler(event: Any, delivery: Any) -> None:
        arrived.put_nowait(time.perf_counter())

    try:
        await bus.subscribe("rt", ["rt.#"], handler, prefetch=10, durable=False)
        out = []
        for i in range(n):
            start = time.perf_counter()
            await bus.publish("rt.ping", Event("Ping", "rt", {"i": i}))
            out.append((await asyncio.wait_for(arrived.get(), 10) - start) * 1000)
        return out
    finally:
        await bus.close()


async def _read_all_rate(store: Any, batch: int = 5000) -> tuple[float, int]:
    start, after, n = time.perf_counter(), 0, 0
    while chunk := await store.read_all(after=after, limit=batch):
        n, after = n + len(chunk), chunk[-1].position
    return n / (time.perf_counter() - start), n


async def _app_only(n: int) -> float:
    """Commands/s through the write API with an instant handler: the HTTP layer alone (client and app)."""
    import httpx

    from workshop.cqrs.handler import Accepted
    from workshop.cqrs.write_api import create_app

    class Instant:
        store = None

        async def handle(self, command: Any) -> Accepted:
            return Accepted(command.user_id, 1, 1, 1, False, command.command_id)

    body = {"type": "CreateUser", "user_id": "u", "first_name": "C", "last_name": "L", "email": "c@example.org"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(create_app(Instant())), base_url="http://w") as c:
        start = time.perf_counter()
        for _ in range(n):
            await c.post("/commands", json=body)
        return n / (time.perf_counter() - start)


async def _lag_run(system: Any, rate: float, seconds: float, prefix: str) -> dict:
    """Open loop: a command every 1/rate s (at most 8 in flight); the lags, their split, the rate achieved."""
    from workshop.cqrs import CreateUser

    system.lag.reset()
    n = max(1, int(rate * seconds))
    in_flight = asyncio.Semaphore(8)  # fewer than the write side's connections: a slow machine queues here

    async def send(command: Any) -> None:
        async with in_flight:
            await system.send(command)

    start, sent = time.perf_counter(), []
    for i in range(n):  # open loop: a command every 1/rate s, whether or not the last one answered
        command = CreateUser(
            user_id=f"{prefix}-{i}", first_name="L", last_name=str(i), email=f"{prefix}{i}@example.org"
        )
        sent.append(asyncio.ensure_future(send(command)))
        await asyncio.sleep(max(0.0, start + (i + 1) / rate - time.perf_counter()))
    await asyncio.gather(*sent)
    achieved = n / (time.perf_counter() - start)
    await system.wait_visible(await system.store.head(), timeout=30)
    lag = system.lag.summary()
    return {"n": n, "rate": achieved, "lag": lag, "split": {m: system.lag.split(m) for m in lag}}


def _median_split(splits: list[dict]) -> dict:
    """Per model and part: the median over the pairs of its mean and of its slowest-1% mean (ms)."""
    out: dict = {}
    for model in splits[0] if splits else {}:
        parts = [s[model] for s in splits if s.get(model)]
        out[model] = {
            part: {k: statistics.median(p[part][k] for p in parts) for k in ("mean", "slowest_1pct")}
            for part in (parts[0] if parts else {})
        }
    return out


async def run(
    s: Any, *, events: int, commands: int, lag_rate: float, lag_seconds: float, log: Any, pairs: int = PAIRS
) -> dict:
    """Each figure with a target as ``pairs`` pairs taken in turn (ceiling, figure, ceiling, figure …)."""
    from workshop.cqrs import rebuild as blue_green
    from workshop.cqrs.handler import CommandHandler
    from workshop.cqrs.projectors import PostgresProjector
    from workshop.cqrs.readmodels import UsersTable
    from workshop.cqrs.system import CqrsSystem
    from workshop.infra.reset import reset_namespace

    ch = "4 CQRS"
    fig_commands = Figure(ch, "commands through the write API (HTTP)", "commands/s", "single appends", target=0.5)
    fig_lag = Figure(
        ch,
        f"p99 lag, command → visible, at {lag_rate:.0f}/s",
        "ms",
        "bare bus round trip, p99",
        higher_is_better=False,
        target=10,
    )
    fig_projection = Figure(ch, "projection into the users table", "events/s", "bare read_all")
    fig_rebuild = Figure(ch, "blue/green rebuild", "events/s", "bare read_all", target=0.5)
    extra: dict[str, list[float]] = {}  # the layers of a command, per pair (commands/s)
    runs: list[dict] = []
    rts: list[list[float]] = []

    await reset_namespace(s, quiet=True)
    await reset_namespace(replace(s, namespace=s.namespace.child("rt")), quiet=True)
    system = await CqrsSystem(s).start()
    try:
        store = system.store
        bare = CommandHandler(store)
        for k in range(pairs):  # the write side: single appends, then the same number of commands, in turn
            single = await _single_appends(store, commands, f"single{k}")
            http = await _commands(system.handler, commands, f"http{k}", http=True)
            fig_commands.add(http, single)
            for name, rate in (
                ("http_8_clients", await _commands(system.handler, commands, f"http8-{k}", http=True, clients=8)),
                ("handler", await _commands(system.handler, commands, f"direct{k}", http=False)),
                ("handler_without_reservation", await _commands(bare, commands, f"bare{k}", http=False)),
                ("http_layer_alone", await _app_only(commands)),
            ):
                extra.setdefault(name, []).append(rate)
            log(f"pair {k + 1}/{pairs}: {http:,.0f} commands/s over HTTP, single appends {single:,.0f}/s")
        for k in range(pairs):  # the lag: a bare bus round trip's p99, then the lag run's, in turn
            rts.append(await _bus_round_trips(s, max(50, commands)))
            runs.append(await _lag_run(system, lag_rate, lag_seconds, f"lag{k}-"))
            worst = max(runs[-1]["lag"].values(), key=lambda v: v["p99"])
            fig_lag.add(worst["p99"], _ms(rts[-1], 99))
            log(f"pair {k + 1}/{pairs}: p99 lag {worst['p99']:.1f} ms, bus round trip p99 {_ms(rts[-1], 99):.2f} ms")
        for name in list(system.projectors):  # quiet for the throughput runs
            await system.remove(name)
        if system.relay is not None:
            await system.relay.stop()

        await _fill(store, events, log)
        feed_events = 0
        rebuild_seconds: list[float] = []
        for k in range(pairs):  # the bare feed, then a projection and a rebuild of the same feed, in turn
            feed_rate, feed_events = await _read_all_rate(store)
            projector = await PostgresProjector(store, UsersTable(f"bench_projection_{k}"), batch=1000).setup()
            start = time.perf_counter()
            await projector.catch_up()
            fig_projection.add(feed_events / (time.perf_counter() - start), feed_rate)
            feed_rate, _ = await _read_all_rate(store)
            start = time.perf_counter()
            await blue_green.rebuild(store, UsersTable(f"bench_rebuild_{k}"), progress=False, batch=5000)
            rebuild_seconds.append(time.perf_counter() - start)
            fig_rebuild.add(feed_events / rebuild_seconds[-1], feed_rate)
            log(f"pair {k + 1}/{pairs}: feed {feed_rate:,.0f}/s, rebuild {feed_events / rebuild_seconds[-1]:,.0f}/s")
    finally:
        await system.stop()
        await reset_namespace(s, quiet=True)
        await reset_namespace(replace(s, namespace=s.namespace.child("rt")), quiet=True)

    med = statistics.median
    every_rt = [x for rt in rts for x in rt]
    lag_by_model = {
        m: {q: med(r["lag"][m][q] for r in runs if m in r["lag"]) for q in ("n", "p50", "p99", "max")}
        for m in runs[0]["lag"]
    }
    worst = max(lag_by_model.values(), key=lambda v: v["p99"])
    single_rate, http_rate = med(fig_commands.baselines), med(fig_commands.values)
    layers = {name: med(rates) for name, rates in extra.items()}
    per_pair = [  # microseconds per command, per layer, in each pair (each layer: the difference to the one below)
        {
            "single append": 1e6 / single,
            "append_at + decide (handler without the reservation)": 1e6 / bare_rate,
            "email claim (in the append's transaction)": 1e6 / handler - 1e6 / bare_rate,
            "HTTP (httpx client + FastAPI app)": 1e6 / http - 1e6 / handler,
            "HTTP layer alone (instant handler)": 1e6 / app,
        }
        for single, http, handler, bare_rate, app in zip(
            fig_commands.baselines,
            fig_commands.values,
            extra["handler"],
            extra["handler_without_reservation"],
            extra["http_layer_alone"],
        )
    ]
    us = {layer: med(p[layer] for p in per_pair) for layer in per_pair[0]}  # the median over the pairs
    figures = [fig_commands, fig_lag, fig_projection, fig_rebuild]
    return {
        "events": feed_events,
        "commands": commands,
        "pairs": pairs,
        "lag_commands": runs[0]["n"],
        "lag_rate": med(r["rate"] for r in runs),
        "machine_load": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "ceilings": {
            "single_appends_per_s": single_rate,
            "read_all_events_per_s": med(fig_rebuild.baselines),
            "bus_round_trip_ms": {
                "p50": _ms(every_rt, 50),
                "p99": med(fig_lag.baselines),
                "mean": statistics.fmean(every_rt),
            },
        },
        "figures": {
            "commands_per_s_http": http_rate,
            "commands_per_s_http_8_clients": layers["http_8_clients"],
            "commands_per_s_handler": layers["handler"],
            "commands_per_s_handler_without_reservation": layers["handler_without_reservation"],
            "commands_per_s_http_layer_alone": layers["http_layer_alone"],
            "command_us_per_layer": us,
            "lag_ms": lag_by_model,
            "lag_p50_ms": worst["p50"],
            "lag_p99_ms": med(fig_lag.values),
            "lag_split_ms": _median_split([r["split"] for r in runs]),
            "projection_events_per_s": med(fig_projection.values),
            "rebuild_events_per_s": med(fig_rebuild.values),
            "rebuild_seconds": med(rebuild_seconds),
        },
        "ratios": {  # the median of the pairs' ratios
            "commands_vs_single_append": med(fig_commands.ratios),
            "commands_8_clients_vs_single_append": med(
                [a / b for a, b in zip(extra["http_8_clients"], fig_commands.baselines)]
            ),
            "lag_p99_vs_round_trip_p99": med(fig_lag.ratios),
            "projection_vs_read_all": med(fig_projection.ratios),
            "rebuild_vs_read_all": med(fig_rebuild.ratios),
        },
        "pairs_report": [f.as_dict() for f in figures],
    }


def table(r: dict) -> str:
    f = r["figures"]
    lines = [
        f"{r['pairs']} pair(s) per figure, taken in turn (ceiling, figure, …); load average {r['machine_load']:.1f}",
        markdown(r["pairs_report"]),
        "",
        f"commands/s: 8 HTTP clients at once {f['commands_per_s_http_8_clients']:,.0f}, "
        f"the handler alone {f['commands_per_s_handler']:,.0f}, "
        f"… without the email reservation {f['commands_per_s_handler_without_reservation']:,.0f}",
        "a command's cost per layer (µs, median over the pairs of each pair's differences): "
        + ", ".join(f"{k} {v:,.0f}" for k, v in f["command_us_per_layer"].items()),
        f"lag at {r['lag_rate']:,.0f} commands/s (medians over the pairs): "
        + ", ".join(f"{m} p50 {v['p50']:.1f} / p99 {v['p99']:.1f} ms" for m, v in f["lag_ms"].items()),
    ]
    for model, parts in f.get("lag_split_ms", {}).items():
        lines.append(
            f"{model}'s lag, split (ms, mean / mean of the slowest 1%): "
            + ", ".join(f"{part} {v['mean']:.2f} / {v['slowest_1pct']:.2f}" for part, v in parts.items())
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    p = parser("cqrs", __doc__)
    p.add_argument("--events", type=int, default=100_000, help="events in the feed for the rebuild (default 100,000)")
    p.add_argument("--commands", type=int, default=300, help="commands per throughput run (default 300)")
    p.add_argument("--lag-rate", type=float, default=200.0, help="commands/s for the lag run (default 200)")
    p.add_argument("--lag-seconds", type=float, default=3.0, help="length of the lag run (default 3 s)")
    p.add_argument("--pairs", type=int, default=PAIRS, help=f"pairs per figure (default {PAIRS}; fewer: 'unstable')")
    args = p.parse_args(argv)
    s = replace(settings(), namespace=Namespace(f"{settings().namespace.name[:30]}_bench4"))
    result = asyncio.run(
        run(
            s,
            events=args.events,
            commands=args.commands,
            lag_rate=args.lag_rate,
            lag_seconds=args.lag_seconds,
            pairs=max(1, args.pairs),
            log=lambda m: print(m, file=sys.stderr),
        )
    )
    print(table(result))
    save_json(args.json, result)
    return 0
