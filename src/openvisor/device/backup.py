"""The device's backup domain (the RTC) across power-on, app restarts and process restarts.

On silicon the RTC keeps its registers and keeps counting through system
resets and low-power modes, including STANDBY; SRAM does not survive STANDBY.
The device keeps one machine for its lifetime, so the RTC survives app
restarts in memory. This module gives a new machine its power-on RTC state
and persists that state in the state directory, so a process that stops
during deep sleep or a crash back-off wakes the app with the same RTC.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from openvisor import atomicfile
from openvisor.errors import StateError

log = logging.getLogger(__name__)

BACKUP_STATE_FILE = "kernel/backup-domain.json"
"""The RTC registers and calendar as they were when the app last stopped."""


def power_on(machine: Any, *, wall_time_us: int | None, state_dir: Path, resume: bool) -> None:
    """Start the RTC of a new machine.

    With ``resume`` (the process restarts while a restart of the app was
    pending) the persisted state is restored. Otherwise the calendar starts
    at ``wall_time_us`` (µs since the Unix epoch), or at 2000-01-01 when the
    wall time is not known.
    """
    rtc = machine.peripherals.rtc
    if resume:
        path = state_dir / BACKUP_STATE_FILE
        try:
            state = atomicfile.read_json(path, default=None)
            if state is not None:
                rtc.restore_backup_state(state)
                return
        except (StateError, TypeError, ValueError, OverflowError) as exc:
            # The RTC starts as after a backup-domain power-on, so the app still boots.
            log.error(
                "Reset the RTC: invalid backup-domain state (path=%s): %s. "
                "The app boots with the RTC's power-on state",
                path,
                exc,
            )
    rtc.power_on(None if wall_time_us is None else wall_time_us // 1_000_000)


def sync_calendar(machine: Any, wall_time_us: int | None) -> bool:
    """Set an RTC calendar still at its reset year from the first known wall time.

    Return whether the calendar no longer waits for wall time: it was set
    now, or the app had set it. Later time syncs leave the calendar alone.
    """
    if machine is None or wall_time_us is None:
        return False
    # NOTE: only the first sync reaches the RTC. Later re-syncs do not move it.
    machine.peripherals.rtc.set_calendar(wall_time_us // 1_000_000)
    return True


def save(machine: Any, state_dir: Path) -> None:
    """Persist the RTC state of ``machine`` for :func:`power_on` with ``resume``."""
    if machine is None:
        return
    atomicfile.write_json(state_dir / BACKUP_STATE_FILE, machine.peripherals.rtc.backup_state())


def elapse(machine: Any, micros: int) -> None:
    """Let the RTC count ``micros`` of virtual time that passed while the core did not run."""
    if machine is not None:
        machine.peripherals.rtc.elapse(micros)
