"""System notifications, restart, wake reason and the system LED:
mvOpenSystemNotification, mvCloseSystemNotification, mvRestart, mvGetWakeReason,
mvSystemLedEnable. Each returns UNAVAILABLE when called from an interrupt handler."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from openvisor.kernel.abi import (
    MvEventType,
    MvRestartMode,
    MvStatus,
    MvSystemNotificationSource,
    MvWakeReason,
    StatusError,
)
from openvisor.kernel.calls.notifications import NotificationCentre, NotificationCentres
from openvisor.kernel.gateway import syscall
from openvisor.kernel.handles import HandleKind
from openvisor.kernel.structs import OPEN_SYSTEM_NOTIFICATION_PARAMS

if TYPE_CHECKING:
    from openvisor.kernel.kernel import Kernel

log = logging.getLogger(__name__)


@dataclass
class Subscription:
    """One system-notification subscription: the centre to post to and its tag."""

    notification_handle: int
    tag: int
    source: MvSystemNotificationSource


class SystemNotifications:
    """Delivers microvisor events (network link, update downloaded) to subscribers."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def subscriptions(self) -> list[Subscription]:
        """Return every open subscription."""
        return [obj for _, obj in self.kernel.handles.live(HandleKind.SYSTEM_EVENT)]

    def emit(self, source: MvSystemNotificationSource, event_type: MvEventType) -> int:
        """Post ``event_type`` to each subscriber of ``source``; return how many got it."""
        centres = self.kernel.family_state(NotificationCentres)
        delivered = 0
        for subscription in self.subscriptions():
            if subscription.source is source and centres.post(
                subscription.notification_handle, event_type, subscription.tag
            ):
                delivered += 1
        return delivered


def require_thread_mode(kernel: Kernel) -> None:
    """Reject a call made from an interrupt handler with UNAVAILABLE."""
    if kernel.in_isr():
        raise StatusError(MvStatus.UNAVAILABLE, "called from an interrupt handler")


@syscall("mvOpenSystemNotification")
def open_system_notification(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Subscribe a centre to a system event source (``*r0``); write the handle to ``*r1``."""
    require_thread_mode(kernel)
    kernel.memory.check_read_struct(r0, OPEN_SYSTEM_NOTIFICATION_PARAMS)
    kernel.memory.check_write(r1, 4, align=4)
    params = kernel.memory.read_struct(r0, OPEN_SYSTEM_NOTIFICATION_PARAMS)
    kernel.handles.lookup(
        HandleKind.NOTIFICATION, params["notification_handle"], NotificationCentre
    )
    try:
        source = MvSystemNotificationSource(params["notification_source"])
    except ValueError:
        raise StatusError(
            MvStatus.INVALIDHANDLE, f"unknown source {params['notification_source']}"
        ) from None
    subscription = Subscription(params["notification_handle"], params["notification_tag"], source)
    handle = kernel.handles.allocate(HandleKind.SYSTEM_EVENT, subscription)
    kernel.memory.write_u32(r1, handle)
    return MvStatus.OKAY


@syscall("mvCloseSystemNotification")
def close_system_notification(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """End the subscription named by ``*r0`` and write 0 there."""
    require_thread_mode(kernel)
    kernel.memory.check_write(r0, 4, align=4)
    kernel.handles.release(HandleKind.SYSTEM_EVENT, kernel.memory.read_u32(r0))
    kernel.memory.write_u32(r0, 0)
    return MvStatus.OKAY


@syscall("mvRestart")
def restart(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Restart the app, applying a staged update if there is one; does not return."""
    from openvisor.kernel.kernel import AppExit, ExitKind

    require_thread_mode(kernel)
    if r0 != MvRestartMode.AUTOAPPLYUPDATE:
        raise StatusError(MvStatus.PARAMETERFAULT, f"unknown restart mode {r0}")
    log.info("Restart app on request (device=%s)", kernel.device_id)
    kernel.request_exit(
        AppExit(ExitKind.RESTART, MvWakeReason.REMOTEAPPLICATIONRESTART, detail="mvRestart")
    )
    return MvStatus.OKAY


@syscall("mvGetWakeReason")
def get_wake_reason(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Write why the app (re)started, one byte, to ``*r0``."""
    require_thread_mode(kernel)
    kernel.memory.write_u8(r0, int(kernel.wake_reason))
    return MvStatus.OKAY


@syscall("mvSystemLedEnable")
def system_led_enable(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Turn the microvisor's status LED off (0) or on (1)."""
    require_thread_mode(kernel)
    if r0 not in (0, 1):
        raise StatusError(MvStatus.PARAMETERFAULT, f"reserved LED value {r0}")
    for listener in list(kernel.led_listeners):
        listener(bool(r0))
    return MvStatus.OKAY
