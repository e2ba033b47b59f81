"""One colour per system, in every plot of the course (docs/style.md, "Figures").

    from workshop.viz.style import COLOURS, OUTCOMES
    ax.barh(names, rates, color=[COLOURS["RabbitMQ"], COLOURS["Redis Streams"]])

A learner who has seen RabbitMQ in orange in chapter 1 finds it in orange in chapter 6.
"""

from __future__ import annotations

COLOURS: dict[str, str] = {
    "RabbitMQ": "#ff6600",
    "Redis pub/sub": "#d62728",
    "Redis Streams": "#9467bd",
    "PostgreSQL": "#336791",
    "course": "#8c8c8c",  # the course's code as written: the baseline
    "library": "#c7c7c7",  # the client library's own rate: the ceiling
}

OUTCOMES: dict[str, str] = {"ok": "#2ca02c", "lost": "#d62728", "duplicated": "#ff7f0e"}


def colour(label: str) -> str:
    """The colour of the system a label names (``"RabbitMQ queues"`` → RabbitMQ's), grey otherwise."""
    text = label.lower()
    for system in ("Redis pub/sub", "Redis Streams", "RabbitMQ", "PostgreSQL"):
        if system.lower() in text:
            return COLOURS[system]
    if "course" in text:
        return COLOURS["course"]
    if "alone" in text or "library" in text:
        return COLOURS["library"]
    return COLOURS["course"]
