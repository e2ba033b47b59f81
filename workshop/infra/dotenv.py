"""``workshop env``: write `.env` from `.env.example`, with a fresh random value for each ``change-me``.

    workshop env          # creates .env, or fills in only what is missing or still change-me

Safe to re-run: values already in `.env` are kept (a new TURN_SECRET would
break a running coturn), your own edits and comments stay, and the secrets
are never printed — only the names of the variables that were filled.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
from pathlib import Path

from workshop.config import repo_root

PLACEHOLDER = "change-me"
_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def new_secret() -> str:
    """32 random URL-safe characters: fine in a URL, a YAML file or a shell."""
    return secrets.token_urlsafe(24)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def fill_env(example: Path, target: Path) -> list[str]:
    """Make ``target`` complete; return the names of the variables given a new value.

    A variable is filled when it is missing from ``target``, or its value there
    is empty or ``change-me`` while the example's value is ``change-me``.
    """
    example_values: dict[str, str] = {}
    for line in example.read_text().splitlines():
        m = _LINE.match(line)
        if m:
            example_values[m.group(1)] = _unquote(m.group(2))

    exists = target.exists()
    lines = target.read_text().splitlines() if exists else example.read_text().splitlines()
    filled: list[str] = []
    seen: set[str] = set()
    for i, line in enumerate(lines):
        m = _LINE.match(line)
        if not m:
            continue
        key, value = m.group(1), _unquote(m.group(2))
        seen.add(key)
        if value == PLACEHOLDER or (not value and example_values.get(key) == PLACEHOLDER):
            lines[i] = f"{key}={new_secret()}"
            filled.append(key)
    missing = [k for k in example_values if k not in seen]
    if missing:
        lines += ["", "# added by `workshop env` (new in .env.example)"]
        for key in missing:
            value = example_values[key]
            if value == PLACEHOLDER:
                value = new_secret()
                filled.append(key)
            lines.append(f"{key}={value}")
    if filled or missing or not exists:
        # owner-only from the first byte: the file holds secrets
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(target, 0o600)
    return filled


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="workshop env", description=__doc__.split("\n\n")[0])
    root = repo_root()
    parser.add_argument("--example", type=Path, default=root / ".env.example", help="template (default: %(default)s)")
    parser.add_argument("--env", type=Path, default=Path(os.environ.get("WORKSHOP_ENV_FILE") or root / ".env"),
                        help="file to write (default: %(default)s)")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
