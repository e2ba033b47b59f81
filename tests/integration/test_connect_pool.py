"""A pool that lived through an outage (a failover) lends a connection as soon as the server answers again."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from workshop import connect
from workshop.process import free_port


class Link:
    """A TCP relay to PostgreSQL that can be cut (connections dropped, new ones refused) and restored."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream, self.port = (host, port), free_port()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in list(self.writers):
            w.close()
        await self.server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self.writers |= {writer, up_writer}

        async def pipe(a: asyncio.StreamReader, b: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await a.read(65536):
                    b.write(data)
                    await b.drain()
            b.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_a_pool_reconnects_within_its_timeout_after_an_outage(ws_settings):
    target = conninfo_to_dict(ws_settings.database_url)
    link = Link(target.get("host") or "127.0.0.1", int(target.get("port") or 5432))
    await link.up()
    url = make_conninfo(ws_settings.database_url, host="127.0.0.1", port=link.port)
    pool = await connect.postgres_pool(replace(ws_settings, database_url=url), max_size=4, timeout=5.0)

    async def use() -> None:
        async with pool.connection() as conn:
            await conn.execute("SELECT 1")

    try:
        await use()
        await link.cut()
        # 17 s without a server (a failover): psycopg_pool's default backoff (1, 2, 4, 8, 16 s) puts its next attempt ~14 s later
        end = time.monotonic() + 17
        while time.monotonic() < end:
            with contextlib.suppress(Exception):
                await use()
            await asyncio.sleep(0.2)
        await link.up()
        await use()  # within the pool's 5 s: a reconnect attempt is never further away than that
    finally:
        await pool.close()
        await link.cut()
