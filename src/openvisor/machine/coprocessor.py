"""CPACR: a UsageFault NOCP for FP instructions while the app denies CP10 and CP11.

Unicorn 2.1.4 keeps its own coprocessor access register with the FPU
enabled, and the app's SCB->CPACR writes never reach it, so FP
instructions run whatever the app set. While CPACR.CP10 denies the
current privilege level, every FP instruction in application flash
(coprocessor 10 or 11 in the Thumb coprocessor space) gets a code hook
limited to its address. The hook stops the run before the instruction,
and the run loop raises the UsageFault with CFSR.NOCP at it. With full
access (the value the SDK start-up code writes) no hook exists, so FP code
runs at full speed.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from unicorn import UC_HOOK_CODE

if TYPE_CHECKING:
    from openvisor.machine.core import Machine

log = logging.getLogger(__name__)

CPACR_CP10_SHIFT = 20
CP_ACCESS_PRIVILEGED = 0b01
CP_ACCESS_FULL = 0b11

# A 32-bit Thumb coprocessor instruction has 0b111x11 in bits 15-10 of its
# first halfword (0xEC00-0xEFFF, 0xFC00-0xFFFF) and the coprocessor number
# in bits 11-8 of its second. Coprocessors 10 and 11 are the FPU. The
# little-endian bytes are: any byte, the first halfword's high byte, any
# byte, the second halfword's high byte.
_FIRST_HIGH = bytes(byte for byte in range(256) if byte & 0xEC == 0xEC)
_SECOND_HIGH = bytes(byte for byte in range(256) if byte & 0x0E == 0x0A)
_FP_INSTRUCTION = re.compile(
    b"(?=.["
    + b"".join(re.escape(bytes([byte])) for byte in _FIRST_HIGH)
    + b"].["
    + b"".join(re.escape(bytes([byte])) for byte in _SECOND_HIGH)
    + b"])",
    re.DOTALL,
)


def find_fp_instructions(code: bytes, base: int) -> list[int]:
    """Return the halfword-aligned addresses in `code` that hold an FP instruction encoding.

    Literal data with the same bytes is found too. A hook there never runs
    unless the bytes are executed as an instruction.
    """
    starts = (match.start() for match in _FP_INSTRUCTION.finditer(code))
    return [base + start for start in starts if not start & 1]


class CoprocessorAccess:
    """Code hooks that raise NOCP while CPACR denies the FPU."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self._addresses: list[int] = []
        self._hooks: dict[int, int] = {}  # address -> hook handle
        self.access = CP_ACCESS_FULL

    @property
    def armed(self) -> bool:
        """Whether FP instructions are hooked."""
        return bool(self._hooks)

    def watch_image(self) -> None:
        """Find the FP instructions of a newly loaded image."""
        # NOTE: FP instructions in code running from SRAM are not hooked.
        self._addresses = self.machine.scan_flash("fp_instructions", find_fp_instructions)
        if self.access != CP_ACCESS_FULL:
            self._disarm()
            self._arm()

    def update(self, cpacr: int) -> None:
        """Follow a CPACR value: hook FP instructions unless CP10 grants full access.

        CP11 must equal CP10 on Armv8-M, so CP10 alone decides. The reserved
        value 0b10 denies access like 0b00.
        """
        access = (cpacr >> CPACR_CP10_SHIFT) & 0b11
        if access == self.access:
            return
        self.access = access
        if access == CP_ACCESS_FULL:
            self._disarm()
        elif not self._hooks:
            self._arm()

    def _arm(self) -> None:
        uc: Any = self.machine._uc
        for address in self._addresses:
            self._hooks[address] = uc.hook_add(
                UC_HOOK_CODE, self._on_fp_instruction, begin=address, end=address
            )
            uc.ctl_remove_cache(address, address + 4)
        log.debug("Arm FPU access check (instructions=%d)", len(self._addresses))

    def _disarm(self) -> None:
        uc: Any = self.machine._uc
        for address, handle in self._hooks.items():
            uc.hook_del(handle)
            uc.ctl_remove_cache(address, address + 4)
        self._hooks.clear()

    def _on_fp_instruction(self, uc: Any, address: int, size: int, user_data: object) -> None:
        if address in self.machine.debug.breakpoints:
            return  # the breakpoint hook calls `check` when the run resumes there
        self.check(uc, address)

    def check(self, uc: Any, address: int) -> None:
        """Stop the run before the FP instruction at `address` if CPACR denies it now."""
        if address not in self._hooks:
            return
        machine = self.machine
        if self.access == CP_ACCESS_PRIVILEGED and not machine.exception_unit.unprivileged_thread():
            return
        if machine.debug.hit is None:
            machine.debug.hit = ("nocp", address)
        uc.emu_stop()
