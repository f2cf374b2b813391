"""Notification centres: mvSetupNotifications, mvCloseNotifications,
mvTempTriggerNotification, and the producer side other families post through.

A centre is a ring of 16-byte ``MvNotification`` records in app SRAM plus an
NVIC interrupt. Posting writes the record at the centre's write index
(``microseconds`` and ``tag`` first, ``event_type`` last, so a reader that polls
``event_type`` never reads a half-written record), advances the index modulo the
ring size and pends the interrupt. Full rings are overwritten: the app owns the
read index and marks consumed records NOEVENT, and the microvisor does not skip
records the app has not consumed.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from openvisor.kernel.abi import MvEventType, MvStatus, StatusError
from openvisor.kernel.gateway import syscall
from openvisor.kernel.handles import HandleKind
from openvisor.kernel.structs import NOTIFICATION, NOTIFICATION_SETUP

if TYPE_CHECKING:
    from openvisor.kernel.kernel import Kernel

log = logging.getLogger(__name__)

MAX_CENTRES = 32
MIN_BUFFER_SIZE = 32
IRQ_COUNT = 125
"""External interrupts of the STM32U585 (IRQn 0..124)."""

_HEAD = struct.Struct("<Q")  # microseconds at +0
_WORD = struct.Struct("<I")


@dataclass
class NotificationCentre:
    """One centre: its interrupt, its ring in app SRAM and the next slot to write."""

    irq: int
    buffer: int
    buffer_size: int
    write_index: int = 0
    posted: int = 0

    @property
    def slots(self) -> int:
        return self.buffer_size // NOTIFICATION.size

    def overlaps(self, address: int, size: int) -> bool:
        return address < self.buffer + self.buffer_size and self.buffer < address + size


class NotificationCentres:
    """The kernel's notification centres, by handle."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def centres(self) -> list[NotificationCentre]:
        """Return every open centre."""
        return [obj for _, obj in self.kernel.handles.live(HandleKind.NOTIFICATION)]

    def irq_in_use(self, irq: int) -> bool:
        """Tell whether some centre already pends ``irq``."""
        return any(centre.irq == irq for centre in self.centres())

    def post(self, handle: int, event_type: MvEventType | int, tag: int) -> bool:
        """Append a record to the centre ``handle`` and pend its IRQ.

        Returns False, and does nothing, when the handle no longer names a centre
        (the app closed it); call only on the emulation thread.
        """
        try:
            centre = self.kernel.handles.lookup(HandleKind.NOTIFICATION, handle, NotificationCentre)
        except StatusError:
            log.debug("Drop notification for closed centre (handle=%#010x)", handle)
            return False
        machine = self.kernel.machine
        if machine is None:
            return False

        record = centre.buffer + centre.write_index * NOTIFICATION.size
        machine.mem_write(record, _HEAD.pack(self.kernel.micros()))
        machine.mem_write(record + 12, _WORD.pack(tag & 0xFFFF_FFFF))
        machine.mem_write(record + 8, _WORD.pack(int(event_type) & 0xFFFF_FFFF))
        centre.write_index = (centre.write_index + 1) % centre.slots
        centre.posted += 1
        machine.pend_irq(centre.irq)
        return True


def _check_irq(kernel: Kernel, irq: int) -> None:
    """Reject an IRQ the app cannot use for a centre."""
    from openvisor.kernel.calls.fast_interrupts import FastInterrupts

    if irq >= IRQ_COUNT:
        raise StatusError(MvStatus.INVALIDINTERRUPT, f"IRQ {irq} does not exist")
    if kernel.family_state(NotificationCentres).irq_in_use(irq):
        raise StatusError(MvStatus.INVALIDINTERRUPT, f"IRQ {irq} already serves a centre")
    if kernel.family_state(FastInterrupts).is_fast(irq):
        raise StatusError(MvStatus.INVALIDINTERRUPT, f"IRQ {irq} is a fast interrupt")


@syscall("mvSetupNotifications")
def setup_notifications(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Create a centre from ``*r0`` (MvNotificationSetup) and write its handle to ``*r1``."""
    memory = kernel.memory
    memory.check_read_struct(r0, NOTIFICATION_SETUP)
    memory.check_write(r1, 4, align=4)
    setup = memory.read_struct(r0, NOTIFICATION_SETUP)
    buffer, size, irq = setup["buffer"], setup["buffer_size"], setup["irq"]

    if size < MIN_BUFFER_SIZE or size % NOTIFICATION.size:
        raise StatusError(MvStatus.INVALIDBUFFERSIZE, f"buffer_size {size}")
    memory.check_write(buffer, size, align=4)
    centres = kernel.family_state(NotificationCentres)
    if len(centres.centres()) >= MAX_CENTRES:
        raise StatusError(MvStatus.TOOMANYNOTIFICATIONBUFFERS)
    if any(centre.overlaps(buffer, size) for centre in centres.centres()):
        raise StatusError(MvStatus.BUFFERALREADYINUSE, f"buffer {buffer:#010x}")
    _check_irq(kernel, irq)

    centre = NotificationCentre(irq=irq, buffer=buffer, buffer_size=size)
    handle = kernel.handles.allocate(HandleKind.NOTIFICATION, centre)
    memory.write_u32(r1, handle)
    log.debug(
        "Open notification centre (handle=%#010x, irq=%d, buffer=%#010x)", handle, irq, buffer
    )
    return MvStatus.OKAY


@syscall("mvCloseNotifications")
def close_notifications(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Close the centre named by ``*r0`` and write 0 there; a pending IRQ stays pending."""
    kernel.memory.check_write(r0, 4, align=4)
    handle = kernel.memory.read_u32(r0)
    kernel.handles.release(HandleKind.NOTIFICATION, handle)
    kernel.memory.write_u32(r0, 0)
    return MvStatus.OKAY


@syscall("mvTempTriggerNotification")
def temp_trigger_notification(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Make centre ``r0`` emit an event of type ``r1`` with tag ``r2`` (a test hook)."""
    kernel.handles.lookup(HandleKind.NOTIFICATION, r0, NotificationCentre)
    kernel.family_state(NotificationCentres).post(r0, r1, r2)
    return MvStatus.OKAY
