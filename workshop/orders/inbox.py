"""The inbox: a consumer remembers which events it has handled, so a redelivery has no second effect.

RabbitMQ delivers *at least once*: a consumer that dies after doing the work but
before acking gets the message again. The fix is to record the event id in
the **same transaction** as the work::

    async with conn.transaction():
        if not await inbox.first_time(conn, "payment", event.event_id):
            return                      # seen before: the effect is already committed
        ... charge the card, insert the payment row ...

Either both commit or neither does; two concurrent deliveries of the same event
serialise on the primary key, and the second finds the row.

What it does **not** cover: an effect outside this database transaction. If the
handler charges a card through a payment provider's API and the process dies
before ``COMMIT``, the inbox row is rolled back with everything else — the
redelivery looks like a first time and charges again. Outbox + inbox give
*effectively-once* for effects in the consumer's own transaction; an external
effect needs that system's **idempotency key** (pass the ``event_id``), which
payment providers accept for exactly this. Notebook 01, section 5c, shows both.
"""

from __future__ import annotations

from typing import Any


async def first_time(conn: Any, consumer: str, event_id: str) -> bool:
    """Record ``event_id`` for ``consumer``; False if it was already there."""
    cur = await conn.execute(
        "INSERT INTO inbox (consumer, event_id) VALUES (%s, %s) ON CONFLICT DO NOTHING", (consumer, event_id)
    )
    return cur.rowcount == 1
