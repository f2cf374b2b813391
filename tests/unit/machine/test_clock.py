"""Event queue ordering and cancellation."""

from __future__ import annotations

from openvisor.machine.clock import EventQueue, ScheduledEvent


def test_events_pop_in_cycle_then_insertion_order() -> None:
    queue = EventQueue()
    fired: list[str] = []
    for cycle, name in ((30, "c"), (10, "a"), (10, "b")):
        queue.push(ScheduledEvent(cycle, lambda name=name: fired.append(name)))
    assert queue.next_cycle() == 10
    while (event := queue.pop_due(100)) is not None:
        event.callback()
    assert fired == ["a", "b", "c"]


def test_events_not_due_stay_queued() -> None:
    queue = EventQueue()
    queue.push(ScheduledEvent(50, lambda: None))
    assert queue.pop_due(49) is None
    assert queue.next_cycle() == 50


def test_cancelled_event_is_skipped() -> None:
    queue = EventQueue()
    first = ScheduledEvent(5, lambda: None)
    queue.push(first)
    queue.push(ScheduledEvent(7, lambda: None))
    first.cancel()
    assert queue.next_cycle() == 7
    event = queue.pop_due(10)
    assert event is not None and event.at_cycle == 7
