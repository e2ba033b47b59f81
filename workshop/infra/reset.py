"""Delete everything one namespace created: its PostgreSQL schema, Redis keys,
RabbitMQ queues and exchanges. Other namespaces are untouched.

    workshop reset                 # your own namespace (asks first)
    workshop reset --yes ws_bob    # another one, no question
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
from dataclasses import replace
from urllib.parse import quote, urlsplit

from workshop.config import Namespace, Settings, settings


async def reset_namespace(s: Settings, quiet: bool = False) -> dict[str, int]:
    """Remove the namespace's objects from every reachable service; returns counts."""
    counts = {"schemas": 0, "redis_keys": 0, "queues": 0, "exchanges": 0}
    ns = s.namespace
    for step in (_reset_postgres, _reset_redis, _reset_rabbitmq):
        try:
            counts.update(await step(s, ns))
        except Exception as exc:  # a service that is down has nothing of ours to delete
            if not quiet:
                print(f"  skipped {step.__name__[7:]}: {exc}")
    return counts


async def _reset_postgres(s: Settings, ns: Namespace) -> dict[str, int]:
    import psycopg

    async with await psycopg.AsyncConnection.connect(s.database_url, connect_timeout=3, autocommit=True) as conn:
        cur = await conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (ns.schema,))
        if await cur.fetchone() is None:
            return {"schemas": 0}
        await conn.execute(f'DROP SCHEMA "{ns.schema}" CASCADE')
        return {"schemas": 1}


async def _reset_redis(s: Settings, ns: Namespace) -> dict[str, int]:
    import redis.asyncio as aioredis

    r = aioredis.from_url(s.redis_url, socket_connect_timeout=3, socket_timeout=5)
    try:
        keys = [k async for k in r.scan_iter(match=f"{ns.name}:*", count=500)]
        for i in range(0, len(keys), 500):
            await r.delete(*keys[i : i + 500])
        return {"redis_keys": len(keys)}
    finally:
        await r.aclose()


async def _reset_rabbitmq(s: Settings, ns: Namespace) -> dict[str, int]:
    queues, exchanges = await _list_amqp_objects(s)
    prefix = ns.name + "."
    mine_q = [q for q in queues if q.startswith(prefix)]
    mine_x = [x for x in exchanges if x.startswith(prefix)]
    if not (mine_q or mine_x):
        return {"queues": 0, "exchanges": 0}
    import aio_pika

    conn = await aio_pika.connect(s.amqp_url, timeout=5)
    async with conn:
        ch = await conn.channel()
        for q in mine_q:
            await ch.queue_delete(q)
        for x in mine_x:
            await ch.exchange_delete(x)
    return {"queues": len(mine_q), "exchanges": len(mine_x)}


async def _list_amqp_objects(s: Settings) -> tuple[list[str], list[str]]:
    """Queue and exchange names, from the management API or else ``rabbitmqctl``."""
    try:
        return await _list_via_management(s)
    except Exception:
        if not shutil.which("rabbitmqctl") or urlsplit(s.amqp_url).hostname not in ("127.0.0.1", "localhost", "::1"):
            raise
    return await asyncio.to_thread(_list_via_rabbitmqctl, s)


async def _list_via_management(s: Settings) -> tuple[list[str], list[str]]:
    import aiohttp

    from workshop.infra.probes import split_auth

    base, headers = split_auth(s.rabbitmq_management_url)
    vhost = quote(urlsplit(s.amqp_url).path.lstrip("/") or "/", safe="")
    root = base.rstrip("/") + "/api"
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=3)) as http:
        out = []
        for kind in ("queues", "exchanges"):
            async with http.get(f"{root}/{kind}/{vhost}?columns=name") as resp:
                resp.raise_for_status()
                out.append([item["name"] for item in json.loads(await resp.text())])
    return out[0], out[1]


def _list_via_rabbitmqctl(s: Settings) -> tuple[list[str], list[str]]:
    vhost = urlsplit(s.amqp_url).path.lstrip("/") or "/"
    out = []
    for kind in ("list_queues", "list_exchanges"):
        proc = subprocess.run(
            ["rabbitmqctl", kind, "-q", "-p", vhost, "--no-table-headers", "name"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
        out.append([line.strip() for line in proc.stdout.splitlines() if line.strip()])
    return out[0], out[1]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="workshop reset", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("namespace", nargs="?", help="namespace to delete (default: yours)")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask")
    args = p.parse_args(argv)
    s = settings()
    if args.namespace:
        s = replace(s, namespace=Namespace(args.namespace))
    if not args.yes and input(f"Delete everything in namespace {s.namespace}? [y/N] ").strip().lower() != "y":
        print("nothing deleted")
        return 1
    counts = asyncio.run(reset_namespace(s))
    print(
        f"namespace {s.namespace}: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items()) + " deleted"
    )
    return 0
