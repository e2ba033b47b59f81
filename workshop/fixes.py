"""The exact command that starts each service, for the Docker path and the native path.

One table, used by the doctor, by :class:`workshop.errors.ServiceUnavailable`
and by the README's troubleshooting section, so the advice never disagrees.
"""

from __future__ import annotations

COMPOSE = "docker compose --env-file .env -f docker/compose.yml up -d"

# service -> (docker fix, native fix)
FIXES: dict[str, tuple[str, str]] = {
    "PostgreSQL": (
        f"{COMPOSE} postgres",
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    ),
    "Redis": (
        f"{COMPOSE} redis",
        'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no',
    ),
    "RabbitMQ": (f"{COMPOSE} rabbitmq", "rabbitmq-server -detached"),
    "RabbitMQ management": (
        f"{COMPOSE} rabbitmq",
        "rabbitmq-plugins enable rabbitmq_management",
    ),
    "coturn": (f"{COMPOSE} coturn", "workshop up coturn"),
    "signaling": (f"{COMPOSE} signaling", "python -m workshop.run.signaling"),
}


def fix_for(service: str) -> str:
    """The fix for ``service``, one line: `workshop up`, the native command, the Docker one."""
    docker_fix, native_fix = FIXES.get(service, (COMPOSE, "workshop up"))
    return f"`workshop up` (or natively: {native_fix}; or with Docker: {docker_fix})"
