"""SysTick: the Armv8-M 24-bit system timer, counted in virtual cycles."""

from __future__ import annotations

from typing import TYPE_CHECKING

from openvisor.machine import _native
from openvisor.machine import nvic as nv

if TYPE_CHECKING:
    from openvisor.machine.clock import ScheduledEvent
    from openvisor.machine.core import Machine

CSR_ENABLE = 1 << 0
CSR_TICKINT = 1 << 1
CSR_CLKSOURCE = 1 << 2
CSR_COUNTFLAG = 1 << 16

# STM32U5: the SysTick external reference clock is HCLK / 8.
EXTERNAL_DIVIDER = 8
# CALIB: SKEW set (the 10 ms value is not exact), TENMS for HCLK/8 = 20 MHz.
CALIB_VALUE = (1 << 30) | (200_000 - 1)


class SysTick:
    """SysTick registers CSR, RVR, CVR and CALIB over the virtual clock.

    The counter is not stored: while enabled it is computed from the cycle
    at which it was last written. COUNTFLAG is computed the same way when CSR
    is read (did the counter reach 0 since the last read?). Only with TICKINT
    set is there a scheduled event, one per wrap, which pends the SysTick
    exception. So a timer that is only polled costs nothing per wrap.

    During a native slice (`hand_off` to `take_back`) the wraps are not
    events: the native run loop pends SysTick itself at `core.systick_next`
    and moves it on by one period.
    """

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.csr = 0
        self.rvr = 0
        self._value = 0  # counter value at _anchor (or the frozen value while disabled)
        self._anchor = 0
        self._flag_since = 0  # cycle from which a zero of the counter sets COUNTFLAG
        self._event: ScheduledEvent | None = None
        self._native = False  # wraps are in core.systick_next, not in _event

    def reset(self) -> None:
        """Disable the timer and clear its registers."""
        self._cancel()
        self.csr = 0
        self.rvr = 0
        self._value = 0
        self._anchor = 0
        self._flag_since = 0

    @property
    def _divider(self) -> int:
        return 1 if self.csr & CSR_CLKSOURCE else EXTERNAL_DIVIDER

    def _ticks_since_anchor(self, cycle: int | None = None) -> int:
        now = self.machine.cycles if cycle is None else cycle
        return (now - self._anchor) // self._divider

    def current_value(self) -> int:
        """Return CVR as the program would read it now."""
        if not self.csr & CSR_ENABLE:
            return self._value
        ticks = self._ticks_since_anchor()
        if ticks <= self._value:
            return self._value - ticks
        if self.rvr == 0:
            return 0
        return self.rvr - (ticks - self._value - 1) % (self.rvr + 1)

    def _next_zero_tick(self, ticks: int) -> int | None:
        """Return the first tick after ``ticks`` (from the anchor) at which the counter is 0."""
        if ticks < self._value:
            return self._value
        if self.rvr == 0:
            return None
        period = self.rvr + 1
        wraps = (ticks - self._value) // period + 1
        return self._value + wraps * period

    def _cancel(self) -> None:
        if self._event is not None:
            self._event.cancel()
            self._event = None
        if self._native:
            self.machine._core.systick_next = _native.NEVER

    def _period(self) -> int:
        """Return the cycles from one wrap to the next (0: RVR is 0, no further wraps)."""
        return (self.rvr + 1) * self._divider if self.rvr else 0

    def hand_off(self) -> None:
        """Let the native run loop pend the wraps of the next slice."""
        core = self.machine._core
        self._native = True
        event = self._event
        if event is None or event.cancelled:
            core.systick_next = _native.NEVER
            return
        event.cancel()
        self._event = None
        core.systick_next = event.at_cycle
        core.systick_period = self._period()

    def take_back(self) -> None:
        """Schedule the next wrap as an event again after a native slice."""
        core = self.machine._core
        self._native = False
        next_wrap = int(core.systick_next)
        core.systick_next = _native.NEVER
        if next_wrap != _native.NEVER and self._event is None:
            self._event = self.machine.schedule(next_wrap, self._on_zero)

    def _settle_flag(self) -> None:
        """Set COUNTFLAG if the counter reached 0 since ``_flag_since``, then look from now."""
        now = self.machine.cycles
        if self.csr & CSR_ENABLE and not self.csr & CSR_COUNTFLAG:
            since = max(self._flag_since, self._anchor)
            tick = self._next_zero_tick(self._ticks_since_anchor(since))
            if tick is not None and tick <= self._ticks_since_anchor(now):
                self.csr |= CSR_COUNTFLAG
        self._flag_since = now

    def _reschedule(self) -> None:
        self._cancel()
        if self.csr & (CSR_ENABLE | CSR_TICKINT) != CSR_ENABLE | CSR_TICKINT:
            return
        tick = self._next_zero_tick(self._ticks_since_anchor())
        if tick is None:
            return
        at_cycle = self._anchor + tick * self._divider
        if self._native:
            core = self.machine._core
            core.systick_next = at_cycle
            core.systick_period = self._period()
            return
        self._event = self.machine.schedule(at_cycle, self._on_zero)

    def _on_zero(self) -> None:
        self._event = None
        self.machine.nvic.set_pending(nv.SYSTICK)
        self.machine.exceptions_changed()
        self._reschedule()

    def _reanchor(self) -> None:
        self._settle_flag()
        self._value = self.current_value()
        self._anchor = self.machine.cycles

    def read(self, offset: int) -> int:
        """Read CSR (0x0), RVR (0x4), CVR (0x8) or CALIB (0xC)."""
        if offset == 0x0:
            self._settle_flag()
            value = self.csr
            self.csr &= ~CSR_COUNTFLAG
            return value
        if offset == 0x4:
            return self.rvr
        if offset == 0x8:
            return self.current_value()
        return CALIB_VALUE

    def write(self, offset: int, value: int) -> None:
        """Write CSR, RVR or CVR (any write to CVR clears it and COUNTFLAG)."""
        if offset == 0x0:
            self._reanchor()
            self.csr = (self.csr & CSR_COUNTFLAG) | (
                value & (CSR_ENABLE | CSR_TICKINT | CSR_CLKSOURCE)
            )
            self._reanchor()
            self._reschedule()
        elif offset == 0x4:
            self.rvr = value & 0x00FF_FFFF
            self._reanchor()
            self._reschedule()
        elif offset == 0x8:
            self._value = 0
            self._anchor = self.machine.cycles
            self._flag_since = self._anchor
            self.csr &= ~CSR_COUNTFLAG
            self._reschedule()
