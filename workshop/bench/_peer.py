"""The peer benchmark's aggregate (the eventsourcing library needs it in an importable module)."""

from eventsourcing.domain import Aggregate, event


class Counter(Aggregate):
    @event("Created")
    def __init__(self) -> None:
        self.count = 0
        self.last: int | None = None

    @event("Ticked")
    def tick(self, i: int) -> None:
        self.count += 1
        self.last = i
