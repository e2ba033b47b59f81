"""The ``workshop`` command: ``workshop doctor``, ``workshop up``, ``workshop exercises build`` …

Each sub-command lives in its own module with a ``main(argv) -> int``; this file
only dispatches, so ``workshop <command> --help`` is answered by the module
that does the work.
"""

from __future__ import annotations

import importlib
import sys

from workshop.errors import WorkshopError

COMMANDS: dict[str, tuple[str, str]] = {
    "lab": ("workshop.lab", "start JupyterLab on the course (port 8888 or the next free one)"),
    "setup": ("workshop.setup", "what `make lab`/`make test` need: Debian packages, .env, services, kernel"),
    "doctor": ("workshop.infra.doctor", "check every service: reachable, version, latency, fix"),
    "up": ("workshop.infra.updown", "start the services (Docker Compose, else native binaries)"),
    "down": ("workshop.infra.updown", "stop the services that `workshop up` started"),
    "env": ("workshop.infra.dotenv", "create .env from .env.example with fresh secrets"),
    "reset": ("workshop.infra.reset", "delete everything in a namespace (schema, keys, queues)"),
    "exercises": ("workshop.exercises", "build exercises/ from solutions/, check them, or copy them: copy mine"),
    "progress": ("workshop.progress", "your exercises: done, attempts, the last hint"),
    "classroom": ("workshop.classroom.cli", "JupyterHub for a class: up, status, progress, reset NAME, down"),
    "bench": ("workshop.bench", "benchmarks: print a table and save JSON"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: workshop <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {doc}" for name, (_, doc) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"workshop: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    entry = getattr(module, f"{name}_main", None) or module.main
    try:
        return int(entry(rest) or 0)
    except WorkshopError as exc:  # one line, never a traceback
        print(f"workshop {name}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
