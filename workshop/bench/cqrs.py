"""``workshop bench cqrs`` — chapter 4's figures, each next to its ceiling measured in the same run.

    workshop bench cqrs                      # table on stdout (100,000 events for the rebuild)
    workshop bench cqrs --json out.json      # and the figures as JSON
    workshop bench cqrs --events 2000 --commands 50 --lag-seconds 0.5   # a smoke test

| figure | ceiling (same run) | target |
|---|---|---|
| commands/s through the write API (HTTP, in-process) | the store's single-append rate | ≥ 0.5x |
| p99 lag, command accepted → visible, at 200 commands/s | one bare bus round trip's p99 | ≤ 10x and < 100 ms |
| projection events/s (users table, batches of 1,000) | the store's bare ``read_all`` rate | (reported) |
| rebuild events/s (blue/green, batches of 5,000) | the store's bare ``read_all`` rate | ≥ 0.5x, 100,000 in < 10 s |

The users table's lag is split into its parts (bus wake-up, queued, read, apply, commit:
see ``workshop.cqrs.lag``), as a mean and as the mean of the slowest 1% of commands.
Where the time goes is reported too: the handler alone (no HTTP), the handler without the
email reservation, so the cost of each layer reads as a difference. A command is several round
trips (claim the email, append, look up the position; other commands load the stream first)
where a single append is one, so one client cannot reach the append rate; eight clients at once
show what the API does for a class. The lag run is open-loop: commands leave on schedule,
at most 8 at a time (a machine too slow for the rate queues them before the write side,
where they cost no lag: it is counted from acceptance); the achieved rate is reported.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from dataclasses import replace
from typing import Any

from workshop.bench._report import parser, save_json
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


async def _single_appends(store: Any, n: int) -> float:
    from workshop import users

    batches = [[users.UserCreated(f"single-{i}", "S", str(i), f"single{i}@example.org")] for i in range(n)]
    start = time.perf_counter()
    for i, batch in enumerate(batches):
        await store.append(f"single-{i}", batch, expected_version=0)
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


async def run(s: Any, *, events: int, commands: int, lag_rate: float, lag_seconds: float, log: Any) -> dict:
    from workshop.cqrs import rebuild as blue_green
    from workshop.cqrs.handler import CommandHandler
    from workshop.cqrs.projectors import PostgresProjector
    from workshop.cqrs.readmodels import UsersTable
    from workshop.cqrs.system import CqrsSystem
    from workshop.infra.reset import reset_namespace

    await reset_namespace(s, quiet=True)
    await reset_namespace(replace(s, namespace=s.namespace.child("rt")), quiet=True)
    system = await CqrsSystem(s).start()
    try:
        store = system.store
        rt = await _bus_round_trips(s, max(50, commands))
        single = await _single_appends(store, commands)
        http = await _commands(system.handler, commands, "http", http=True)
        http_clients = await _commands(system.handler, commands, "http8", http=True, clients=8)
        direct = await _commands(system.handler, commands, "direct", http=False)
        bare_handler = await _commands(CommandHandler(store), commands, "bare", http=False)
        log(f"commands: {http:,.0f}/s over HTTP, {direct:,.0f}/s handler, single appends {single:,.0f}/s")

        system.lag.reset()
        n_lag = max(1, int(lag_rate * lag_seconds))
        from workshop.cqrs import CreateUser

        in_flight = asyncio.Semaphore(8)  # fewer than the write side's connections: a slow machine queues here

        async def send(command: Any) -> None:
            async with in_flight:
                await system.send(command)

        start, sent = time.perf_counter(), []
        for i in range(n_lag):  # open loop: a command every 1/rate s, whether or not the last one answered
            sent.append(
                asyncio.ensure_future(
                    send(CreateUser(user_id=f"lag-{i}", first_name="L", last_name=str(i), email=f"lag{i}@example.org"))
                )
            )
            await asyncio.sleep(max(0.0, start + (i + 1) / lag_rate - time.perf_counter()))
        await asyncio.gather(*sent)
        achieved = n_lag / (time.perf_counter() - start)
        await system.wait_visible(await store.head(), timeout=30)
        lag = system.lag.summary()
        split = {m: system.lag.split(m) for m in lag if system.lag.split(m)}  # PostgreSQL models note their phases
        log(f"lag at {achieved:,.0f} commands/s: " + ", ".join(f"{m} p99 {v['p99']:.1f} ms" for m, v in lag.items()))
        for name in list(system.projectors):  # quiet for the throughput runs
            await system.remove(name)
        if system.relay is not None:
            await system.relay.stop()

        await _fill(store, events, log)
        feed_rate, feed_events = await _read_all_rate(store)
        projector = await PostgresProjector(store, UsersTable("bench_projection"), batch=1000).setup()
        start = time.perf_counter()
        await projector.catch_up()
        projection_rate = feed_events / (time.perf_counter() - start)
        start = time.perf_counter()
        await blue_green.rebuild(store, UsersTable("bench_rebuild"), progress=False, batch=5000)
        rebuild_seconds = time.perf_counter() - start
        rebuild_rate = feed_events / rebuild_seconds
        log(f"feed {feed_rate:,.0f}/s, projection {projection_rate:,.0f}/s, rebuild {rebuild_rate:,.0f}/s")
    finally:
        await system.stop()
        await reset_namespace(s, quiet=True)
        await reset_namespace(replace(s, namespace=s.namespace.child("rt")), quiet=True)

    worst = max(lag.values(), key=lambda v: v["p99"]) if lag else {"p50": float("nan"), "p99": float("nan")}
    rt_p50, rt_p99 = _ms(rt, 50), _ms(rt, 99)
    return {
        "events": feed_events,
        "commands": commands,
        "lag_commands": n_lag,
        "lag_rate": achieved,
        "ceilings": {
            "single_appends_per_s": single,
            "read_all_events_per_s": feed_rate,
            "bus_round_trip_ms": {"p50": rt_p50, "p99": rt_p99, "mean": statistics.fmean(rt)},
        },
        "figures": {
            "commands_per_s_http": http,
            "commands_per_s_http_8_clients": http_clients,
            "commands_per_s_handler": direct,
            "commands_per_s_handler_without_reservation": bare_handler,
            "lag_ms": lag,
            "lag_p50_ms": worst["p50"],
            "lag_p99_ms": worst["p99"],
            "lag_split_ms": split,
            "projection_events_per_s": projection_rate,
            "rebuild_events_per_s": rebuild_rate,
            "rebuild_seconds": rebuild_seconds,
        },
        "ratios": {
            "commands_vs_single_append": http / single,
            "commands_8_clients_vs_single_append": http_clients / single,
            "lag_p99_vs_round_trip_p99": worst["p99"] / rt_p99,
            "projection_vs_read_all": projection_rate / feed_rate,
            "rebuild_vs_read_all": rebuild_rate / feed_rate,
        },
    }


def table(r: dict) -> str:
    c, f, q = r["ceilings"], r["figures"], r["ratios"]
    rt = c["bus_round_trip_ms"]
    rows = [
        (
            "commands/s, write API (HTTP, 1 client)",
            f"{f['commands_per_s_http']:,.0f}",
            "single appends/s",
            f"{c['single_appends_per_s']:,.0f}",
            f"{q['commands_vs_single_append']:.2f}x",
            ">= 0.5x",
            q["commands_vs_single_append"] >= 0.5,
        ),
        (
            "  8 clients at once",
            f"{f['commands_per_s_http_8_clients']:,.0f}",
            "single appends/s",
            f"{c['single_appends_per_s']:,.0f}",
            f"{q['commands_8_clients_vs_single_append']:.2f}x",
            "",
            None,
        ),
        ("  the handler alone (1 client)", f"{f['commands_per_s_handler']:,.0f}", "", "", "", "", None),
        (
            "  … without the email reservation",
            f"{f['commands_per_s_handler_without_reservation']:,.0f}",
            "",
            "",
            "",
            "",
            None,
        ),
        (
            f"p99 lag ms at {r['lag_rate']:,.0f} commands/s",
            f"{f['lag_p99_ms']:.1f}",
            "bus round trip p99 ms",
            f"{rt['p99']:.1f}",
            f"{q['lag_p99_vs_round_trip_p99']:.1f}x",
            "<= 10x, < 100 ms",
            q["lag_p99_vs_round_trip_p99"] <= 10 and f["lag_p99_ms"] < 100,
        ),
        ("p50 lag ms", f"{f['lag_p50_ms']:.1f}", "bus round trip p50 ms", f"{rt['p50']:.1f}", "", "", None),
        (
            "projection events/s",
            f"{f['projection_events_per_s']:,.0f}",
            "bare read_all events/s",
            f"{c['read_all_events_per_s']:,.0f}",
            f"{q['projection_vs_read_all']:.2f}x",
            "",
            None,
        ),
        (
            f"rebuild events/s ({r['events']:,} in {f['rebuild_seconds']:.1f} s)",
            f"{f['rebuild_events_per_s']:,.0f}",
            "bare read_all events/s",
            f"{c['read_all_events_per_s']:,.0f}",
            f"{q['rebuild_vs_read_all']:.2f}x",
            ">= 0.5x, < 10 s",
            q["rebuild_vs_read_all"] >= 0.5 and f["rebuild_seconds"] < 10,
        ),
    ]
    head = ("figure", "value", "ceiling", "value", "ratio", "target", "met")
    widths = [max(len(str(row[i])) for row in [*rows, head]) for i in range(6)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(head, widths)) + "  met"]
    for row in rows:
        met = "" if row[6] is None else ("yes" if row[6] else "NO")
        lines.append("  ".join(str(v).ljust(w) for v, w in zip(row[:6], widths)) + f"  {met}")
    per_model = ", ".join(f"{m} p50 {v['p50']:.1f} / p99 {v['p99']:.1f} ms" for m, v in f["lag_ms"].items())
    lines.append(f"lag per read model: {per_model}")
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
    args = p.parse_args(argv)
    s = replace(settings(), namespace=Namespace(f"{settings().namespace.name[:30]}_bench4"))
    result = asyncio.run(
        run(
            s,
            events=args.events,
            commands=args.commands,
            lag_rate=args.lag_rate,
            lag_seconds=args.lag_seconds,
            log=lambda m: print(m, file=sys.stderr),
        )
    )
    print(table(result))
    save_json(args.json, result)
    return 0
