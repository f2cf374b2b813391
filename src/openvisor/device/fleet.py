"""Many virtual devices in one process, their CPU slices shared out to worker threads.

Emulation runs only on the fleet's worker threads, never on an asyncio event
loop. Each device runs on one worker at a time, one slice at a go. In real-time
pacing a device whose virtual clock is ahead of the wall clock waits. So an idle
device (its CPU asleep, virtual time fast-forwarded) costs no host CPU until
wall time catches up or link work arrives for it.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from openvisor.device.device import Device, DeviceState

log = logging.getLogger(__name__)


@dataclass(order=True)
class _Entry:
    due: float
    order: int
    device: Device = field(compare=False)


@dataclass
class _Pace:
    """Start points of a device's virtual clock and the wall clock, for real-time pacing."""

    wall_start: float
    micros_start: int


class Fleet:
    """Runs devices in slices on ``workers`` threads until :meth:`stop`.

    Example::

        fleet = Fleet(workers=2, realtime=False)
        fleet.add(device)          # booted on its first slice if not yet running
        fleet.start()
        ...
        fleet.stop()
    """

    def __init__(self, *, workers: int = 2, realtime: bool = True) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.realtime = realtime
        self.devices: dict[str, Device] = {}
        self.error_listeners: list[Callable[[Device, BaseException], None]] = []
        self._workers = workers
        self._threads: list[threading.Thread] = []
        self._heap: list[_Entry] = []
        self._busy: set[str] = set()
        self._pace: dict[str, _Pace] = {}
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._running = False

    def add(self, device: Device) -> None:
        """Host ``device``; it runs from the next free slice."""
        with self._cond:
            if device.device_id in self.devices:
                raise ValueError(f"device {device.device_id} is already in the fleet")
            self.devices[device.device_id] = device
            self._pace[device.device_id] = _Pace(time.monotonic(), device.kernel.micros())
            self._push(device, time.monotonic())
            device.kernel.wakeup.clear()
            self._cond.notify()

    def remove(self, device_id: str) -> Device | None:
        """Stop hosting a device (after its current slice, if one runs)."""
        with self._cond:
            device = self.devices.pop(device_id, None)
            self._heap = [entry for entry in self._heap if entry.device.device_id != device_id]
            heapq.heapify(self._heap)
            while device_id in self._busy:
                self._cond.wait()
            return device

    def start(self) -> None:
        """Start the worker threads."""
        with self._cond:
            if self._running:
                return
            self._running = True
        for index in range(self._workers):
            thread = threading.Thread(target=self._work, name=f"fleet-worker-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("Start fleet (workers=%d, devices=%d)", self._workers, len(self.devices))

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the running slices finish, then persist every device's state."""
        with self._cond:
            self._running = False
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
        for device in list(self.devices.values()):
            device.kernel.flush()
        log.info("Stop fleet (devices=%d)", len(self.devices))

    def _push(self, device: Device, due: float) -> None:
        heapq.heappush(self._heap, _Entry(due, next(self._order), device))

    def _due(self, device: Device) -> float:
        """Wall time at which the device may run its next slice."""
        now = time.monotonic()
        if not self.realtime:
            return now
        pace = self._pace[device.device_id]
        ahead = pace.wall_start + (device.kernel.micros() - pace.micros_start) / 1e6
        return max(now, ahead)

    def _next(self) -> Device | None:
        """Wait for the next device that is due; None once the fleet stops."""
        with self._cond:
            while self._running:
                if not self._heap:
                    self._cond.wait(0.5)
                    continue
                entry = self._heap[0]
                woken = entry.device.kernel.wakeup.is_set()
                wait = entry.due - time.monotonic()
                if wait > 0 and not woken:
                    # Link work sets the kernel's wakeup event without notifying this
                    # condition, so a parked device is re-checked every 50 ms.
                    self._cond.wait(min(wait, 0.05))
                    continue
                heapq.heappop(self._heap)
                self._busy.add(entry.device.device_id)
                return entry.device
            return None

    def _work(self) -> None:
        while True:
            device = self._next()
            if device is None:
                return
            finished = False
            try:
                if device.state is DeviceState.WAITING_RESTART and device.boot_count == 0:
                    device.boot()
                finished = device.step() is DeviceState.FINISHED
            except Exception as exc:
                log.exception("Stop device after an emulation error (device=%s)", device.device_id)
                for listener in list(self.error_listeners):
                    listener(device, exc)
                finished = True
            with self._cond:
                self._busy.discard(device.device_id)
                if not finished and device.device_id in self.devices:
                    self._push(device, self._due(device))
                self._cond.notify_all()
