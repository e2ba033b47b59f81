"""``workshop env``: write `.env` from `.env.example`, with a fresh random value for each ``change-me``.

    workshop env          # creates .env, or fills in only what is missing or still change-me

Safe to re-run: values already in `.env` are kept (a new TURN_SECRET would
break a running coturn), your own edits and comments stay, and the secrets
are never printed — only the names of the variables that were filled.

One exception, so that checkouts on one machine share one coturn: when a
coturn started by ``workshop up`` in *another* checkout listens on this
TURN_URL, its secret replaces TURN_SECRET here (see :mod:`workshop.infra.coturn`).
Reading and writing go through python-dotenv (:func:`workshop.config.read_dotenv`).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

from dotenv import set_key

from workshop.config import PLACEHOLDER, read_dotenv, repo_root, settings, state_dir
from workshop.errors import ConfigError
from workshop.infra.coturn import find_running


def new_secret() -> str:
    """32 random URL-safe characters: fine in a URL, a YAML file or a shell."""
    return secrets.token_urlsafe(24)


def fill_env(example: Path, target: Path) -> list[str]:
    """Make ``target`` complete; return the names of the variables given a new value.

    A variable is filled when it is missing from ``target``, or its value there
    is empty or ``change-me`` while the example's value is ``change-me``.
    """
    wanted = read_dotenv(example)
    if not target.exists():  # owner-only from the first byte: the file will hold secrets
        with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(example.read_text())
    have = read_dotenv(target)
    missing = [key for key in wanted if key not in have]
    if missing:
        with target.open("a") as f:
            f.write("\n# added by `workshop env` (new in .env.example)\n")
            f.writelines(f"{key}={wanted[key]}\n" for key in missing)
        have = read_dotenv(target)
    filled = []
    for key, value in have.items():
        if value == PLACEHOLDER or (not value and wanted.get(key) == PLACEHOLDER):
            set_key(target, key, new_secret(), quote_mode="never")
            filled.append(key)
    os.chmod(target, 0o600)
    return filled


def share_turn_secret(target: Path, state_dir: Path) -> str:
    """Take the TURN_SECRET of a coturn another checkout started on our TURN_URL; say so, or return ""."""
    try:
        s = settings(dotenv=target)
    except ConfigError:
        return ""  # a malformed .env: `workshop doctor` names the line
    running = find_running(*s.turn_host_port)
    if running is None or running.secret == s.turn_secret or running.config.parent == state_dir.resolve():
        return ""
    set_key(target, "TURN_SECRET", running.secret, quote_mode="never")
    return (
        f"TURN_SECRET: now the secret of the coturn already running on {s.turn_url} "
        f"(started from {running.checkout}), so both checkouts can use it"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="workshop env", description=__doc__.split("\n\n")[0])
    root = repo_root()
    parser.add_argument("--example", type=Path, default=root / ".env.example", help="template (default: %(default)s)")
    parser.add_argument(
        "--env",
        type=Path,
        default=Path(os.environ.get("WORKSHOP_ENV_FILE") or root / ".env"),
        help="file to write (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if not args.example.is_file():
        print(f"workshop env: {args.example} not found", file=sys.stderr)
        return 1
    existed = args.env.exists()
    filled = fill_env(args.example, args.env)
    if not existed:
        print(f"Created {args.env} from {args.example.name}" + (f"; new random {', '.join(filled)}" if filled else ""))
    elif filled:
        print(f"Updated {args.env}: new random {', '.join(filled)} (other values kept)")
    else:
        print(f"{args.env} is complete: nothing to change")
    shared = share_turn_secret(args.env, state_dir())
    if shared:
        print(shared)
    return 0


if __name__ == "__main__":
    sys.exit(main())
