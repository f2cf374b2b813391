"""Exception state shared between the Python NVIC and the native run loop.

`Nvic` stays the single source of truth. `publish` copies what the native
loop needs into the core structure: the pending, enabled and active sets,
every exception's priority, VTOR, CCR, SCR.SLEEPONEXIT and the FP context
registers, and lets the library derive the best pending exception.
`sync` applies what the loop did (SysTick wraps, entries, returns, FP
context changes) back to the NVIC and the exception unit.

The sets travel as bitmaps. `sync` applies only the bits the loop changed
since the last publish or sync, so a pend that Python makes between two
syncs, e.g. from a peripheral callback, is never lost.
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING

from openvisor.machine import _native
from openvisor.machine import nvic as nv
from openvisor.machine.scs import SCR_SLEEPONEXIT

if TYPE_CHECKING:
    from openvisor.machine.core import Machine

_BITMAP_BYTES = 4 * _native.EXCEPTION_WORDS


def _bits(numbers: set[int]) -> int:
    value = 0
    for number in numbers:
        value |= 1 << number
    return value


def _numbers(value: int) -> set[int]:
    numbers = set()
    while value:
        low = value & -value
        numbers.add(low.bit_length() - 1)
        value ^= low
    return numbers


class NativeState:
    """Publishes NVIC state to the native core structure and applies its changes back."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        core = machine._core
        base = ctypes.addressof(core)
        self._pending_address = base + _native.Core.pending.offset
        assert _native.Core.active.offset == _native.Core.pending.offset + 2 * _BITMAP_BYTES
        self._enabled_address = base + _native.Core.enabled.offset
        self._active_address = base + _native.Core.active.offset
        self._refresh = _native.load_library().ov_refresh
        self._core_address = base
        # What the core structure contains as of the last publish or sync.
        self._pending = 0
        self._active = 0
        self._levels = 0
        self._levels_address = base + _native.Core.levels.offset
        self._fpccr = 0
        self._fpcar = 0
        # The priority tables and the enabled set are copied only when they change.
        self._priorities: tuple[list[int], int] | None = None
        self._enables: tuple[list[bool], int] | None = None
        self.publishes = 0  # count of publish calls

    def _write_bitmap(self, address: int, value: int) -> None:
        ctypes.memmove(address, value.to_bytes(_BITMAP_BYTES, "little"), _BITMAP_BYTES)

    def publish(self) -> None:
        """Copy the NVIC and SCB state the native loop reads into the core structure."""
        machine = self.machine
        core = machine._core
        nvic = machine.nvic
        unit = machine.exception_unit
        if core.nvic_changed:
            self.sync()
        nvic.changed = False
        self.publishes += 1

        if self._priorities != (nvic.priority, nvic.prigroup):
            numbers = range(_native.EXCEPTIONS)
            core.priority[:] = [nvic.group_priority(number) for number in numbers]
            core.order[:] = nvic.priority[: _native.EXCEPTIONS]
            core.group_mask = nvic.group_mask()
            self._priorities = (list(nvic.priority), nvic.prigroup)
        if self._enables != (nvic.enabled, nvic.shcsr_enables):
            enabled = {number for number in range(1, nv.NUM_EXCEPTIONS) if nvic.is_enabled(number)}
            self._write_bitmap(self._enabled_address, _bits(enabled))
            self._enables = (list(nvic.enabled), nvic.shcsr_enables)

        pending = _bits(nvic.pending)
        if pending != self._pending:
            self._write_bitmap(self._pending_address, pending)
            self._pending = pending
        active = _bits(nvic.active)
        if active != self._active:
            self._write_bitmap(self._active_address, active)
            self._active = active
        self.publish_levels()
        self._refresh(self._core_address)

        core.vtor = unit.vtor
        core.ccr = unit.ccr
        core.fpccr = self._fpccr = unit.fpccr
        core.fpcar = self._fpcar = unit.fpcar
        core.sleep_on_exit = machine.scs.scr & SCR_SLEEPONEXIT
        core.resync = 0

    def publish_levels(self) -> None:
        """Copy the set of asserted interrupt lines, which only exception returns read."""
        levels = _bits(self.machine.nvic.levels)
        if levels != self._levels:
            self._write_bitmap(self._levels_address, levels)
            self._levels = levels

    def sync(self) -> None:
        """Apply the native loop's changes to the NVIC and the FP context state."""
        machine = self.machine
        core = machine._core
        nvic = machine.nvic
        unit = machine.exception_unit
        core.nvic_changed = 0
        # pending, enabled and active are adjacent in the structure: one read.
        raw = ctypes.string_at(self._pending_address, 3 * _BITMAP_BYTES)
        pending = int.from_bytes(raw[:_BITMAP_BYTES], "little")
        active = int.from_bytes(raw[2 * _BITMAP_BYTES :], "little")
        pended = set()
        if pending != self._pending:
            pended = _numbers(pending & ~self._pending)
            nvic.pending |= pended
            nvic.pending -= _numbers(self._pending & ~pending)
            self._pending = pending
        if active != self._active:
            nvic.active |= _numbers(active & ~self._active)
            nvic.active -= _numbers(self._active & ~active)
            self._active = active
        if pended:
            # SysTick wraps and level-sensitive lines that the loop pended.
            nvic.pended_inactive |= pended - nvic.active
            if nvic.sevonpend:
                nvic.event = True
        if core.fpccr != self._fpccr:
            unit.fpccr = self._fpccr = int(core.fpccr)
        if core.fpcar != self._fpcar:
            unit.fpcar = self._fpcar = int(core.fpcar)
