"""The course's Redis publisher and subscriber, kept as written so their problems can be measured.

Nothing here is used by the package. The course's code connects at import time to
``redis:6379``; these functions take the client instead (the only change), so the
notebook can run them against your namespace. What the notebook measures:

* :func:`listen` — one message that is not JSON (or JSON without ``type``) raises out of
  the ``for`` loop: the subscriber **dies**, and every later message is lost to it;
* :func:`publish_event` ignores what ``PUBLISH`` returns — the number of subscribers that
  received the message — so a message nobody heard (a subscriber not connected *yet*, or
  offline) is lost **silently**;
* the event has no id: a subscriber cannot tell a lost message from one never sent.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

COURSE_PUBLISHER = '''
def publish_event(channel, event):
    r.publish(channel, json.dumps(event))

# Publish events
while True:
    event = {
        'type': 'user_action',
        'user_id': 123,
        'action': 'click',
        'timestamp': time.time()
    }
    publish_event('user_events', event)
    time.sleep(5)
'''

COURSE_SUBSCRIBER = '''
pubsub = r.pubsub()

# Subscribe to channels
pubsub.subscribe('user_events', 'system_events')

print('Listening for messages...')

for message in pubsub.listen():
    if message['type'] == 'message':
        event = json.loads(message['data'])
        print(f"Received event: {event}")

        # Process event
        if event['type'] == 'user_action':
            print(f"User {event['user_id']} performed {event['action']}")
'''


def publish_event(r: redis.Redis, channel: str, event: dict[str, Any]) -> None:
    """The course's ``publish_event`` (``r`` is passed in instead of a module global)."""
    r.publish(channel, json.dumps(event))


def course_event() -> dict[str, Any]:
    """The event the course's publisher sends every 5 seconds."""
    return {"type": "user_action", "user_id": 123, "action": "click", "timestamp": time.time()}


def listen(pubsub: redis.client.PubSub, printed: list[str]) -> None:
    """The course's subscriber loop, verbatim except that ``print`` appends to ``printed``.

    Runs until the connection closes — or until a message breaks it.
    """
    print = printed.append  # noqa: A001 - the course prints; we keep the lines to count them
    for message in pubsub.listen():
        if message['type'] == 'message':
            event = json.loads(message['data'])
            print(f"Received event: {event}")

            # Process event
            if event['type'] == 'user_action':
                print(f"User {event['user_id']} performed {event['action']}")


def start_subscriber(url: str, channels: tuple[str, ...], printed: list[str], timeout: float = 5.0) -> Any:
    """Run the course's subscriber in a thread, as its own process would: subscribe, then listen.

    Returns once Redis counts one more subscriber on every channel than before it started
    (``PUBSUB NUMSUB``: so the demo does not also lose messages to the start-up race, and a
    subscriber left over from an earlier run does not fool the wait; a classroom learner may
    not list other clients, so ``CLIENT LIST`` is no way to ask). ``thread.error`` holds the
    exception that ended the loop, if any.
    """
    import threading
    import uuid

    from workshop.waiting import until_sync

    name = f"course-subscriber-{uuid.uuid4().hex[:8]}"
    r = redis.Redis.from_url(url, decode_responses=True, socket_timeout=timeout, client_name=name)
    probe = redis.Redis.from_url(url, decode_responses=True, socket_timeout=timeout)

    def counts() -> list[int]:
        return [n for _, n in probe.pubsub_numsub(*channels)]

    before = counts()

    def main() -> None:
        pubsub = r.pubsub()
        pubsub.subscribe(*channels)
        try:
            listen(pubsub, printed)
        except Exception as exc:  # the course's subscriber would die here, with a traceback
            thread.error = exc  # type: ignore[attr-defined]
        finally:
            pubsub.close()
            r.close()

    thread = threading.Thread(target=main, name=name, daemon=True)
    thread.error = None  # type: ignore[attr-defined]
    thread.start()
    try:
        until_sync(lambda: all(now > then for now, then in zip(counts(), before)),
                   timeout=timeout, every=0.01, what="the course's subscriber to subscribe")
    finally:
        probe.close()
    return thread
