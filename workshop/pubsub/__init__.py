"""Chapter 2 — publish/subscribe with Redis, and Redis Streams that survive a consumer crash
(and, with the append-only file on, a server crash).

* :mod:`.course` — the course's ``publisher.py`` / ``subscriber.py`` as written, so the
  notebook can measure what goes wrong with them;
* :mod:`.publisher`, :mod:`.subscriber` — the same flow on redis-py's asyncio client:
  JSON events, subscriptions confirmed before anything is published, pattern
  subscriptions, bad messages counted and skipped (``python -m workshop.run.pubsub subscriber``);
* :mod:`.streams` — Redis Streams with a consumer group: ``XADD``, ``XREADGROUP``, ``XACK``,
  ``XPENDING``, ``XAUTOCLAIM`` and a dead-letter stream;
* :mod:`.timeline` — who received what, and the delivery timeline plot;
* :mod:`.backpressure` — a throw-away ``redis-server`` that disconnects a slow subscriber.

Every channel and stream name is prefixed with the namespace (``ws_alice_ch02:user_events``).
"""

__all__ = ["Publisher", "Subscriber"]


def __getattr__(name: str):
    # imported on first use: `import workshop.pubsub.streams` need not import the others
    if name == "Publisher":
        from workshop.pubsub.publisher import Publisher

        return Publisher
    if name == "Subscriber":
        from workshop.pubsub.subscriber import Subscriber

        return Subscriber
    raise AttributeError(f"module 'workshop.pubsub' has no attribute {name!r}")
