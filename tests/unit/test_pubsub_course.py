"""The course's subscriber loop, fed by a fake pubsub: one bad message ends it."""

from __future__ import annotations

import json

import pytest

from workshop.pubsub import course


class FakePubSub:
    def __init__(self, payloads):
        self.payloads = payloads

    def listen(self):
        yield {"type": "subscribe", "channel": "user_events", "data": 1}
        for data in self.payloads:
            yield {"type": "message", "channel": "user_events", "data": data}


def test_the_course_loop_prints_each_event():
    printed: list[str] = []
    course.listen(FakePubSub([json.dumps(course.course_event())]), printed)
    assert printed[0].startswith("Received event: {'type': 'user_action'")
    assert printed[1] == "User 123 performed click"


@pytest.mark.parametrize(
    "bad,error", [("oops", json.JSONDecodeError), ('{"user_id": 1}', KeyError), ("[1, 2]", TypeError)]
)
def test_one_bad_message_ends_the_course_loop(bad, error):
    printed: list[str] = []
    good = json.dumps(course.course_event())
    with pytest.raises(error):
        course.listen(FakePubSub([good, bad, good, good]), printed)
    assert sum(line.startswith("Received") for line in printed) == (1 if error is json.JSONDecodeError else 2)


def test_the_course_code_is_kept_verbatim():
    assert "pubsub.subscribe('user_events', 'system_events')" in course.COURSE_SUBSCRIBER
    assert "time.sleep(5)" in course.COURSE_PUBLISHER
