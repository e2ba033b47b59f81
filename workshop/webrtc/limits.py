"""Rate limits for the signaling server: a token bucket per socket and per client address.

Each message costs one token; a bucket holds ``burst`` tokens and refills at
``rate`` per second. An empty bucket means the message is dropped — and, so that a
flood cannot make the server flood back, the sender hears about it at most once
per second.

    >>> b = Bucket(rate=1, burst=2, now=0.0)
    >>> [b.take(now=0.0) for _ in range(3)]
    [True, True, False]
    >>> b.take(now=1.0)
    True
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Limits:
    """The signaling server's limits (defaults fit a 1:1 call with a browser that trickles ICE)."""

    per_socket_rate: float = 20.0  # messages per second, sustained
    per_socket_burst: int = 60  # an offer, an answer and a few dozen candidates at once
    per_address_rate: float = 60.0  # all the sockets of one client address together
    per_address_burst: int = 200
    sockets_per_address: int = 8  # connections open at once from one address
    max_payload_bytes: int = 64_000  # an SDP is a few kB (UTF-8 bytes, not characters)


@dataclass
class Bucket:
    """A token bucket."""

    rate: float
    burst: int
    now: float | None = None
    tokens: float = field(init=False)
    stamp: float = field(init=False)
    last_warned: float = field(init=False, default=float("-inf"))

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)
        self.stamp = time.monotonic() if self.now is None else self.now

    def take(self, now: float | None = None) -> bool:
        """Spend one token; False when the bucket is empty."""
        now = time.monotonic() if now is None else now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def should_warn(self, now: float | None = None) -> bool:
        """True at most once per second: whether to tell the sender it is being dropped."""
        now = time.monotonic() if now is None else now
        if now - self.last_warned >= 1.0:
            self.last_warned = now
            return True
        return False
