"""The divide-by-zero trap (CCR.DIV_0_TRP), which Unicorn cannot raise itself.

Unicorn keeps its own copy of CCR, which the app's SCS writes never reach,
so SDIV and UDIV by zero return 0 there. While the app sets DIV_0_TRP,
every SDIV/UDIV in application flash gets a code hook limited to its
address. The hook checks the divisor register and stops the run before
the instruction executes; the run loop then raises the UsageFault.
"""

from __future__ import annotations

import logging
import struct
from typing import TYPE_CHECKING, Any

from unicorn import UC_HOOK_CODE
from unicorn import arm_const as arm

from openvisor.machine import memory_map as mm

if TYPE_CHECKING:
    from openvisor.machine.core import Machine

log = logging.getLogger(__name__)

CCR_DIV_0_TRP = 1 << 4


def find_divisions(code: bytes, base: int) -> dict[int, int]:
    """Return {address: divisor register} for every SDIV/UDIV encoding in `code`.

    Each halfword position is tested on its own: an encoding that is really
    data or the second half of another instruction is never executed at
    that address, so its hook never fires.
    """
    found = {}
    halves = struct.unpack(f"<{len(code) // 2}H", code[: len(code) // 2 * 2])
    for index in range(len(halves) - 1):
        first = halves[index]
        second = halves[index + 1]
        # SDIV: 1111 1011 1001 Rn / 1111 Rd 1111 Rm; UDIV has 1011 in place of 1001.
        if first & 0xFFF0 in (0xFB90, 0xFBB0) and second & 0xF0F0 == 0xF0F0:
            found[base + 2 * index] = second & 0xF
    return found


class DivideTrap:
    """Code hooks on SDIV/UDIV that raise UsageFault DIVBYZERO while CCR.DIV_0_TRP is set."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self._hooks: list[int] = []
        self._divisors: dict[int, int] = {}

    @property
    def armed(self) -> bool:
        """Whether the hooks are installed."""
        return bool(self._hooks)

    def update(self, ccr: int) -> None:
        """Install or remove the hooks to follow CCR.DIV_0_TRP."""
        if ccr & CCR_DIV_0_TRP and not self._hooks:
            self._arm()
        elif not ccr & CCR_DIV_0_TRP and self._hooks:
            self.disarm()

    def _arm(self) -> None:
        uc: Any = self.machine._uc
        code = self.machine.mem_read(mm.FLASH_BASE, mm.FLASH_SIZE)
        self._divisors = find_divisions(code, mm.FLASH_BASE)
        for address in self._divisors:
            handle = uc.hook_add(UC_HOOK_CODE, self._on_division, begin=address, end=address)
            self._hooks.append(handle)
            uc.ctl_remove_cache(address, address + 4)
        log.debug("Arm divide-by-zero trap (instructions=%d)", len(self._divisors))

    def disarm(self) -> None:
        """Remove every hook (on reset, image load or DIV_0_TRP cleared)."""
        uc: Any = self.machine._uc
        for handle in self._hooks:
            uc.hook_del(handle)
        for address in self._divisors:
            uc.ctl_remove_cache(address, address + 4)
        self._hooks.clear()
        self._divisors.clear()

    def _on_division(self, uc: Any, address: int, size: int, user_data: object) -> None:
        register = self._divisors.get(address)
        if register is None or register > 12:
            return
        if self.machine.registers.read(arm.UC_ARM_REG_R0 + register) != 0:
            return
        debug = self.machine.debug
        if debug.hit is None:
            debug.hit = ("divbyzero", address)
        uc.emu_stop()
