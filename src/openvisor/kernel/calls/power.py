"""Power: mvPowerSave and mvDeepSleep.

``mvPowerSave`` returns at once: the emulated core already sleeps on WFI until
the next enabled interrupt, the RTC's wake-up timer and alarm among them,
which is how applications use the STOP modes. Deep sleep ends the application.
The device fast-forwards virtual time to the earlier of the check-in period
and the next RTC event the app armed, but at least :data:`MIN_DEEP_SLEEP_US`,
and restarts it with a DEEPSLEEP wake reason (SHUTDOWN wakes as COLDBOOT).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from openvisor.kernel.abi import (
    MvDeepSleepMode,
    MvPowerSavingMode,
    MvStatus,
    MvWakeReason,
    StatusError,
)
from openvisor.kernel.calls.system import require_thread_mode
from openvisor.kernel.gateway import syscall

if TYPE_CHECKING:
    from openvisor.kernel.kernel import Kernel

log = logging.getLogger(__name__)

MIN_DEEP_SLEEP_US = 100_000
"""Minimum deep-sleep duration in virtual µs: openvisor's estimate of the microvisor's own boot
before the app runs again, which also bounds the host cost of an app that deep
sleeps again at every boot."""


def _require_idle_network(kernel: Kernel) -> None:
    if kernel.network_busy():
        raise StatusError(MvStatus.MICROVISORBUSY, "the app has an open network request")


@syscall("mvPowerSave")
def power_save(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Enter a low-power mode (SLEEP, STOP0-3) until the next interrupt."""
    require_thread_mode(kernel)
    if r0 > max(MvPowerSavingMode):
        raise StatusError(MvStatus.PARAMETERFAULT, f"unknown power saving mode {r0}")
    _require_idle_network(kernel)
    return MvStatus.OKAY


@syscall("mvDeepSleep")
def deep_sleep(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Stop the app until the check-in period ends or an RTC event the app armed wakes it."""
    from openvisor.kernel.kernel import AppExit, ExitKind

    require_thread_mode(kernel)
    if r0 > max(MvDeepSleepMode):
        raise StatusError(MvStatus.PARAMETERFAULT, f"unknown deep sleep mode {r0}")
    _require_idle_network(kernel)
    checkin_us = int(kernel.settings.deep_sleep_wake_s * 1_000_000)
    rtc_us = _rtc_wake_us(kernel)
    if rtc_us is not None and rtc_us <= checkin_us:
        delay_us = rtc_us
        wake = MvWakeReason.DEEPSLEEPAPPLICATIONRTC
    else:
        delay_us = checkin_us
        wake = MvWakeReason.DEEPSLEEPCHECKIN
    if r0 == MvDeepSleepMode.SHUTDOWN:
        wake = MvWakeReason.COLDBOOT
    delay_us = max(delay_us, MIN_DEEP_SLEEP_US)
    log.info(
        "Enter deep sleep (device=%s, mode=%s, wake_after_us=%d, wake_reason=%s)",
        kernel.device_id,
        MvDeepSleepMode(r0).name,
        delay_us,
        wake.name,
    )
    kernel.request_exit(AppExit(ExitKind.DEEP_SLEEP, wake, delay_us=delay_us, detail="mvDeepSleep"))
    return MvStatus.OKAY


def _rtc_wake_us(kernel: Kernel) -> int | None:
    """Return the µs until the RTC event the app armed (wake-up timer, alarm A), or None."""
    peripherals = getattr(kernel.machine, "peripherals", None)
    rtc = getattr(peripherals, "rtc", None)
    if rtc is None:
        return None
    wake_us: int | None = rtc.next_wake_us()
    return wake_us
