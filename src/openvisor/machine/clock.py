"""Virtual time: the cycle-ordered event queue and the pacing modes.

One virtual cycle is one executed instruction at the core clock (160 MHz
by default), and each gateway call adds ``Machine.gateway_call_cycles``.
The count lives in the native core structure, and this module orders the
callbacks that peripherals schedule against it.
"""

from __future__ import annotations

import enum
import heapq
import itertools
from collections.abc import Callable


class Pacing(enum.Enum):
    """How virtual time relates to wall-clock time."""

    FAST = "fast"  # as fast as possible (tests, CI)
    REALTIME = "realtime"  # virtual time never runs ahead of wall time


class ScheduledEvent:
    """A callback due at a virtual cycle; `cancel()` keeps it from running."""

    __slots__ = ("at_cycle", "callback", "cancelled")

    def __init__(self, at_cycle: int, callback: Callable[[], None]) -> None:
        self.at_cycle = at_cycle
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        """Keep the callback from running."""
        self.cancelled = True


class EventQueue:
    """Events ordered by cycle, then by the order they were scheduled."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, ScheduledEvent]] = []
        self._sequence = itertools.count()

    def clear(self) -> None:
        """Drop every event."""
        self._heap.clear()

    def push(self, event: ScheduledEvent) -> None:
        """Add an event."""
        heapq.heappush(self._heap, (event.at_cycle, next(self._sequence), event))

    def next_cycle(self) -> int | None:
        """Return the cycle of the earliest live event, or None."""
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pop_due(self, now: int) -> ScheduledEvent | None:
        """Remove and return the earliest live event due at or before `now`."""
        heap = self._heap
        while heap:
            at_cycle, _, event = heap[0]
            if event.cancelled:
                heapq.heappop(heap)
                continue
            if at_cycle > now:
                return None
            heapq.heappop(heap)
            return event
        return None
