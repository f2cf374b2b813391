"""Power: mvPowerSave and mvDeepSleep.

``mvPowerSave`` returns at once: the emulated core already sleeps on WFI until
the next interrupt, which is how applications use power-save mode. Deep sleep
ends the application. The device fast-forwards virtual time by the check-in
period and restarts it with a DEEPSLEEP wake reason (SHUTDOWN wakes as COLDBOOT).
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
    """Stop the app until the check-in period ends (STANDBY) or a power cycle (SHUTDOWN)."""
    from openvisor.kernel.kernel import AppExit, ExitKind

    require_thread_mode(kernel)
    if r0 > max(MvDeepSleepMode):
        raise StatusError(MvStatus.PARAMETERFAULT, f"unknown deep sleep mode {r0}")
    _require_idle_network(kernel)
    # TODO: an RTC wake-up timer armed by the app should wake it earlier with
    # DEEPSLEEPAPPLICATIONRTC; for now every sleep lasts the check-in period.
    wake = (
        MvWakeReason.COLDBOOT if r0 == MvDeepSleepMode.SHUTDOWN else MvWakeReason.DEEPSLEEPCHECKIN
    )
    delay_us = int(kernel.settings.deep_sleep_wake_s * 1_000_000)
    log.info(
        "Enter deep sleep (device=%s, mode=%s, wake_after_s=%.1f)",
        kernel.device_id,
        MvDeepSleepMode(r0).name,
        kernel.settings.deep_sleep_wake_s,
    )
    kernel.request_exit(AppExit(ExitKind.DEEP_SLEEP, wake, delay_us=delay_us, detail="mvDeepSleep"))
    return MvStatus.OKAY
