"""``workshop classroom``: one JupyterHub for a class, each learner with its own accounts.

    workshop classroom up --learners 12          # s01 … s12
    workshop classroom up --learners alice,bob   # or names
    workshop classroom status                    # who runs what: servers, kernels, memory, database size
    workshop classroom progress                  # learners × exercises: done, stuck, last hint
    workshop classroom passwords                 # the first hub passwords to hand out (hub-passwords.txt)
    workshop classroom reset alice               # empty alice's namespace on every service
    workshop classroom remove alice              # alice's accounts, data and Unix account gone
    workshop classroom down                      # stop the hub and the learners' servers

``up`` refuses to start while a learner could log in as an administrator
(passwordless PostgreSQL superuser, RabbitMQ guest/guest, Redis default user
without a password) unless ``--accept-open-services`` — for a laptop, never a room.
"""

from __future__ import annotations

import argparse
import os

from workshop.classroom import hub as hubs
from workshop.classroom import provision as prov
from workshop.classroom.learners import Roster, check_name, class_names
from workshop.config import settings
from workshop.errors import WorkshopError


def up(args: argparse.Namespace) -> int:
    if os.geteuid() != 0:
        raise WorkshopError(
            "run it as root: each learner gets a Unix account of their own (sudo .venv/bin/workshop classroom up ...)"
        )
    admin, directory = settings(), hubs.state_dir()
    names = sorted(set(class_names(args.learners)) | set(Roster(directory).names()))
    prov.prepare(admin)
    roster = Roster(directory)
    learners = [roster.ensure(name) for name in names]
    doors = prov.open_doors(admin, learners)
    for door in doors:
        print("open door:", door)
    if doors and not args.accept_open_services:
        raise WorkshopError(
            "learners could step around their accounts or take a shared server down (above); fix it, "
            "or pass --accept-open-services on a machine only you use"
        )
    for learner in learners:
        prov.provision(admin, learner)
    print(f"provisioned {len(names)} learners: PostgreSQL role + database, RabbitMQ vhost + user, Redis ACL user each")
    running = (directory / "classroom.json").is_file() and hubs.Hub(directory).alive()
    if not running:  # a running hub keeps its ports; it reads the class list at each login
        hubs.write_config(
            directory,
            names,
            ip=args.ip,
            port=args.port,
            authenticator=args.authenticator,
            mem_limit=args.mem_limit,
            idle_timeout=args.idle_timeout,
        )
    hub = hubs.start(directory)
    hub.add_users(names)
    print(f"JupyterHub is up at {hub.url} (log {directory / 'hub.log'})")
    if args.authenticator == "native":
        print(
            f"first passwords to hand out: {hubs.write_passwords(directory)} (learners change theirs at "
            f"{hub.url}/hub/change-password; no sign-up)"
        )
    return 0


def status(args: argparse.Namespace) -> int:
    directory = hubs.state_dir()
    hub = hubs.Hub(directory)
    if not hub.alive():
        print(f"the hub is not running ({hub.url})")
        return 1
    learners = Roster(directory).all()
    sizes = prov.watch(settings(), learners) if learners else {}
    print(f"hub {hub.url}")
    print(f"{'learner':<12} {'server':<8} {'kernels':>7} {'PSS MiB':>10} {'DB MiB':>8}  last activity")
    for user in sorted(hub.api("GET", "/users"), key=lambda u: u["name"]):
        server = user.get("servers", {}).get("")
        kernels = "-"
        if server and server.get("ready"):
            try:
                kernels = str(len(hub.user_api(user["name"], "/kernels")))
            except Exception:  # noqa: BLE001 - a server that is starting or stopping
                kernels = "?"
        memory = hubs.learner_memory_mib(user["name"])
        state = "ready" if server and server.get("ready") else ("pending" if server else "stopped")
        db = f"{sizes[user['name']]['mib']:.0f}" if user["name"] in sizes else "-"
        print(f"{user['name']:<12} {state:<8} {kernels:>7} {memory:>10.0f} {db:>8}  {user.get('last_activity') or '-'}")
    from workshop.classroom.postgres import CAPS

    for name, size in sizes.items():
        if size["over"]:
            print(
                f"{name}: PostgreSQL database {size['mib']:.0f} MiB, over the {CAPS.size_limit_mib} MiB limit: "
                f"{'frozen (cannot log in; data kept)' if size['frozen'] else 'not frozen'} — "
                f"workshop classroom reset {name} empties it and lets {name} in again"
            )
    return 0


def passwords(args: argparse.Namespace) -> int:
    """The class list's hub accounts and first passwords, without starting anything (also in a Kubernetes hub pod)."""
    directory = hubs.state_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    roster = Roster(directory)
    for name in class_names(args.learners) if args.learners else []:
        roster.ensure(name)
    print(f"first passwords to hand out: {hubs.write_passwords(directory)}")
    return 0


def progress(args: argparse.Namespace) -> int:
    from workshop.classroom import progress as room  # the grid and the hub's live page: classroom/progress*.py

    return room.main(settings(), hubs.state_dir())


def reset(args: argparse.Namespace) -> int:
    learner = Roster(hubs.state_dir()).get(check_name(args.name))
    if learner is None:
        raise WorkshopError(f"{args.name} is not in the class (workshop classroom status)")
    counts = prov.reset(settings(), learner)
    print(f"{args.name}: " + ", ".join(f"{v} {k}" for k, v in counts.items()) + " emptied; accounts kept")
    return 0


def remove(args: argparse.Namespace) -> int:
    from workshop.classroom.spawner import remove_system_user

    directory = hubs.state_dir()
    roster = Roster(directory)
    learner = roster.get(check_name(args.name))
    if learner is None:
        raise WorkshopError(f"{args.name} is not in the class")
    hub = hubs.Hub(directory)
    if hub.alive():
        if hub.api("GET", f"/users/{args.name}").get("servers"):
            hub.stop_server(args.name)
        hub.api("DELETE", f"/users/{args.name}")
    prov.remove(settings(), learner)
    remove_system_user(args.name)
    roster.remove(args.name)
    print(f"{args.name}: accounts, data and Unix account removed")
    return 0


def down(args: argparse.Namespace) -> int:
    stopped = hubs.stop(hubs.state_dir())
    print(
        "stopped: "
        + (", ".join(stopped) if stopped else "nothing was running")
        + " (PostgreSQL, RabbitMQ, Redis left running)"
    )
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="workshop classroom", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("up", help="provision the learners and start JupyterHub")
    p.add_argument("--learners", required=True, help="a number (s01…sNN) or names separated by commas")
    p.add_argument("--ip", default="127.0.0.1", help="address the hub listens on (default: loopback)")
    p.add_argument("--port", type=int, default=8000, help="the hub's port (default 8000; 0: a free one)")
    p.add_argument("--authenticator", default="native", help="native (default), dummy (tests), or a class path")
    p.add_argument("--mem-limit", default="3G", help="address-space cap per learner process (default 3G)")
    p.add_argument("--idle-timeout", type=int, default=3600, help="seconds before an idle server is culled")
    p.add_argument("--accept-open-services", action="store_true", help="start even if admin logins need no secret")
    p.set_defaults(func=up)
    sub.add_parser("status", help="servers, kernels, memory and database size per learner").set_defaults(func=status)
    sub.add_parser("progress", help="learners × exercises: done, stuck, last hint").set_defaults(func=progress)
    p = sub.add_parser("passwords", help="write hub-passwords.txt (adding --learners to the roster first)")
    p.add_argument("--learners", default="", help="a number or names separated by commas (optional)")
    p.set_defaults(func=passwords)
    for name, func, text in (
        ("reset", reset, "empty one learner's namespace"),
        ("remove", remove, "delete one learner entirely"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("name")
        p.set_defaults(func=func)
    sub.add_parser("down", help="stop the hub and the servers (services untouched)").set_defaults(func=down)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except WorkshopError:
        raise
    except Exception as exc:  # a service refusing or down: one line for the instructor, not a traceback
        from workshop.connect import failure_reason

        raise WorkshopError(f"{args.command}: {type(exc).__name__}: {failure_reason(exc)}") from None
