"""MSPLIM and PSPLIM, the Armv8-M stack limits, as exception entry needs them.

Unicorn 2.1.4 checks the limits for the app's own pushes, but its register
API has no id for MSPLIM or PSPLIM. The machine reads them exactly by
running two MRS instructions (``MRS R0, MSPLIM``, ``MRS R1, PSPLIM``) from a
stub it writes into the call gateway page for the duration of the read, and
clears them on reset with MSR the same way.

A read is needed only after the limits may have changed. Every
``MSR MSPLIM`` or ``MSR PSPLIM`` encoding in application flash gets a
native code hook limited to its address, which marks the published limits
stale before the instruction runs. Code running from SRAM is not scanned:
the native block hook marks the limits stale whenever a block in SRAM runs.
"""

from __future__ import annotations

import ctypes
import logging
import re
import struct
from typing import TYPE_CHECKING

from unicorn import arm_const as arm
from unicorn.unicorn_py3.unicorn import uclib

from openvisor.errors import EmulationError
from openvisor.machine import _native
from openvisor.machine import memory_map as mm

if TYPE_CHECKING:
    from openvisor.machine.core import Machine

log = logging.getLogger(__name__)

# The stub sits at the end of the gateway page, far from the 72 call entries,
# and the page contains SVC #0 there again as soon as the stub has run.
STUB_OFFSET = mm.GATEWAY_PAGE_SIZE - 16
STUB_ADDRESS = mm.GATEWAY_BASE + STUB_OFFSET

# MRS R0, MSPLIM; MRS R1, PSPLIM
_READ_STUB = (0xF3EF, 0x800A, 0xF3EF, 0x810B)
# MSR MSPLIM, R0; MSR PSPLIM, R1
_WRITE_STUB = (0xF380, 0x880A, 0xF381, 0x880B)


# MSR T1: 1111 0011 1000 Rn / 1000 mask 00 SYSm, little-endian halfwords;
# SYSm 0x0A MSPLIM, 0x0B PSPLIM, 0x8A and 0x8B their _NS aliases.
_LIMIT_WRITE = re.compile(rb"(?=[\x80-\x8f]\xf3[\x0a\x0b\x8a\x8b][\x80-\x8f])", re.DOTALL)


def find_limit_writes(code: bytes, base: int) -> list[int]:
    """Return the address of every MSR to MSPLIM or PSPLIM (or their _NS aliases) in `code`.

    Each halfword position is tested on its own, as for the divide trap: a
    match that is really data never executes, so its hook never fires.
    """
    return [base + match.start() for match in _LIMIT_WRITE.finditer(code) if not match.start() & 1]


class StackLimits:
    """The core's current MSPLIM and PSPLIM, cached in the native core structure."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self._hooks = _native.SiteHooks(
            machine._uc, machine._handle, machine._core, _native.load_library().ov_limit_hook
        )

    def watch_image(self) -> None:
        """Hook every MSR MSPLIM/PSPLIM in application flash (after an image load)."""
        machine = self.machine
        self._hooks.replace(machine.scan_flash("limit_writes", find_limit_writes))
        machine._core.limits_valid = 0
        log.debug("Watch stack limit writes (instructions=%d)", len(self._hooks.sites))

    def read(self) -> tuple[int, int]:
        """Return (MSPLIM, PSPLIM), running the read stub when the cached values are stale."""
        core = self.machine._core
        if not core.limits_valid:
            msplim, psplim = self._run_stub(_READ_STUB, 0, 0)
            core.msplim = msplim
            core.psplim = psplim
            core.limits_valid = 1
        return int(core.msplim), int(core.psplim)

    def clear(self) -> None:
        """Set both limits to zero, their reset value."""
        core = self.machine._core
        self._run_stub(_WRITE_STUB, 0, 0)
        core.msplim = 0
        core.psplim = 0
        core.limits_valid = 1

    def _run_stub(self, stub: tuple[int, ...], r0: int, r1: int) -> tuple[int, int]:
        """Run `stub` with R0 and R1 set, privileged; return R0 and R1 after it.

        R0, R1 and PC are restored afterwards. The block hook does not count
        the stub's instructions, so virtual time does not move.
        """
        machine = self.machine
        regs = machine.registers
        core = machine._core
        unit = machine.exception_unit
        saved = regs.read_many([arm.UC_ARM_REG_R0, arm.UC_ARM_REG_R1, arm.UC_ARM_REG_PC])
        unprivileged = unit.unprivileged_thread()
        code = struct.pack(f"<{len(stub)}H", *stub)
        ctypes.memmove(ctypes.addressof(machine._gateway) + STUB_OFFSET, code, len(code))
        machine._uc.ctl_remove_cache(STUB_ADDRESS, STUB_ADDRESS + len(code))
        core.counting = 0
        try:
            if unprivileged:
                # MRS and MSR of the limits are ignored unprivileged (see _read_privileged).
                regs.write(arm.UC_ARM_REG_IPSR, 1)
            regs.write_many([(arm.UC_ARM_REG_R0, r0), (arm.UC_ARM_REG_R1, r1)])
            status = uclib.uc_emu_start(
                machine._handle, STUB_ADDRESS | 1, STUB_ADDRESS + len(code), 0, 0
            )
            result = regs.read_many([arm.UC_ARM_REG_R0, arm.UC_ARM_REG_R1])
        finally:
            core.counting = 1
            restore = struct.pack(f"<{len(stub)}H", *([mm.THUMB_SVC0] * len(stub)))
            ctypes.memmove(ctypes.addressof(machine._gateway) + STUB_OFFSET, restore, len(code))
            machine._uc.ctl_remove_cache(STUB_ADDRESS, STUB_ADDRESS + len(code))
            if unprivileged:
                regs.write(arm.UC_ARM_REG_IPSR, 0)
            regs.write_many(
                [
                    (arm.UC_ARM_REG_R0, saved[0]),
                    (arm.UC_ARM_REG_R1, saved[1]),
                    (arm.UC_ARM_REG_PC, saved[2] | 1),
                ]
            )
        if status != 0:
            raise EmulationError(
                f"reading the stack limits through the stub at {STUB_ADDRESS:#010x} failed "
                f"with Unicorn error {status}"
            )
        return result[0], result[1]
