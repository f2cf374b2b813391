"""Opaque handles the kernel gives the application.

Handles are random, non-zero 32-bit values, unique across every kind, so a
handle of the wrong kind, a stale one or a made-up one is always rejected with
``MV_STATUS_INVALIDHANDLE``.
"""

from __future__ import annotations

import random
from enum import Enum
from typing import Any, TypeVar

from openvisor.kernel.abi import MvStatus, StatusError

T = TypeVar("T")


class HandleKind(Enum):
    """The opaque handle types of the ABI."""

    NOTIFICATION = "MvNotificationHandle"
    NETWORK = "MvNetworkHandle"
    CHANNEL = "MvChannelHandle"
    SYSTEM_EVENT = "MvSystemEventHandle"
    EXTERNAL_FLASH = "MvExternalFlashHandle"


class HandleTable:
    """Maps live handles to the kernel object behind each, per kind.

    Example::

        handle = table.allocate(HandleKind.NOTIFICATION, centre)
        centre = table.lookup(HandleKind.NOTIFICATION, handle, NotificationCentre)
        table.release(HandleKind.NOTIFICATION, handle)
    """

    def __init__(self, *, seed: int | None = None) -> None:
        self._random = random.Random(seed)
        self._objects: dict[int, tuple[HandleKind, Any]] = {}

    def allocate(self, kind: HandleKind, obj: object) -> int:
        """Create a fresh handle of ``kind`` for ``obj``."""
        while True:
            handle = self._random.getrandbits(32)
            if handle != 0 and handle not in self._objects:
                self._objects[handle] = (kind, obj)
                return handle

    def lookup(self, kind: HandleKind, handle: int, cls: type[T]) -> T:
        """Return the object behind ``handle``; INVALIDHANDLE unless it is a live ``kind``."""
        entry = self._objects.get(handle)
        if entry is None or entry[0] is not kind or not isinstance(entry[1], cls):
            raise StatusError(MvStatus.INVALIDHANDLE, f"{handle:#010x} is not a live {kind.value}")
        return entry[1]

    def release(self, kind: HandleKind, handle: int) -> None:
        """Forget a handle; INVALIDHANDLE unless it is a live ``kind``."""
        entry = self._objects.get(handle)
        if entry is None or entry[0] is not kind:
            raise StatusError(MvStatus.INVALIDHANDLE, f"{handle:#010x} is not a live {kind.value}")
        del self._objects[handle]

    def live(self, kind: HandleKind) -> list[tuple[int, Any]]:
        """All live handles of ``kind`` with their objects, oldest first."""
        return [(h, obj) for h, (k, obj) in self._objects.items() if k is kind]

    def count(self, kind: HandleKind) -> int:
        """Number of live handles of ``kind``."""
        return sum(1 for k, _ in self._objects.values() if k is kind)

    def clear(self) -> None:
        """Forget every handle (the application restarted)."""
        self._objects.clear()
