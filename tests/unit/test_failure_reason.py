"""`failure_reason`: the one line `connect` and the doctor give for a failed connection."""

from __future__ import annotations

import pytest

from workshop.connect import failure_reason
from workshop.errors import WorkshopError

REFUSED = "connection refused: nothing listens there"


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5673)"),
        OSError("Error 111 connecting to 127.0.0.1:6380. Connection refused."),  # redis-py
        Exception(
            'connection failed: connection to server at "127.0.0.1", port 5499 failed: Connection refused\n'
            "\tIs the server running on that host and accepting TCP/IP connections?"
        ),  # psycopg
    ],
)
def test_a_refused_connection_says_nothing_listens(exc):
    assert failure_reason(exc) == REFUSED


@pytest.mark.parametrize(
    "exc, expected",
    [
        # coturn answering 401 is not "nothing listening" (the bug this replaced)
        (
            WorkshopError("up on 127.0.0.1:3478, but it rejects this checkout's TURN_SECRET (401 Unauthorized)"),
            "up on 127.0.0.1:3478, but it rejects this checkout's TURN_SECRET (401 Unauthorized)",
        ),
        # a wrong RabbitMQ password is refused *access*, not a refused connection
        (
            Exception("ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN"),
            "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN",
        ),
        (TimeoutError(), "timed out"),
        (ValueError(), "ValueError"),
    ],
)
def test_other_failures_keep_their_own_words(exc, expected):
    assert failure_reason(exc) == expected


def test_a_long_library_message_becomes_one_short_line():
    text = failure_reason(Exception("x" * 500 + "\n" + "y" * 10))
    assert "\n" not in text and len(text) == 200
