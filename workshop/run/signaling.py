"""``python -m workshop.run.signaling``: chapter 5's signaling server as a process (compose: signaling).

    python -m workshop.run.signaling --host 127.0.0.1 --port 3000 [--max-room-size N] [--origin O ...]

Room tokens are checked with SIGNALING_SECRET, the TURN credentials handed to joined clients are
signed with TURN_SECRET (both from the settings); SIGTERM drops open sockets and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from functools import partial

from workshop.config import settings
from workshop.errors import WorkshopError
from workshop.infra.turn import check_secret
from workshop.process import exit_now, run
from workshop.webrtc.signaling import MAX_ROOM_SIZE, create_app, origins_from_env, serve
from workshop.webrtc.tokens import signaling_secret


async def main_loop(args: argparse.Namespace, stop: asyncio.Event) -> None:
    s = settings()
    secret, turn_secret = signaling_secret(s), check_secret(s.turn_secret)
    origins = tuple(args.origins) if args.origins else origins_from_env()
    if args.verbose:
        logging.getLogger().setLevel(logging.INFO)
    app = create_app(
        secret,
        turn_url=args.turn_url or s.turn_url,
        turn_secret=turn_secret,
        max_room_size=args.max_room_size,
        allowed_origins=origins,
    )
    try:
        runner, url = await serve(app, args.host, args.port)
    except OSError as exc:  # port taken, address not available
        raise WorkshopError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    print(f"Signaling server on {url} (rooms of {args.max_room_size}; origins: {', '.join(origins)})", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m workshop.run.signaling", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--max-room-size", type=int, default=MAX_ROOM_SIZE, help="peers per room (2: a 1:1 call)")
    p.add_argument(
        "--origin",
        action="append",
        dest="origins",
        help="a browser origin allowed to connect (repeatable; default: "
        "$SIGNALING_ALLOWED_ORIGINS or localhost:3000/8888)",
    )
    p.add_argument("--turn-url", help="the TURN server handed to joined clients (default: $TURN_URL)")
    p.add_argument("-v", "--verbose", action="store_true", help="log every join, leave and refusal")
    args = p.parse_args(argv)
    if args.max_room_size < 1:
        p.error("--max-room-size must be at least 1")
    return run("signaling", partial(main_loop, args), grace=5.0)


if __name__ == "__main__":
    exit_now(main())
