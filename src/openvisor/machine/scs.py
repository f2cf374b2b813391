"""The private peripheral bus: SCS (NVIC, SCB, SysTick, MPU, FPU) and DWT.

Offsets are from 0xE000_0000 (Armv8-M Architecture Reference Manual,
chapter D1 "System Control Space"). Registers not listed here read as
zero and ignore writes, with one warning per register.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from unicorn import arm_const as arm

from openvisor.machine import nvic as nv
from openvisor.machine.mpu import MPU_END, MPU_TYPE_OFFSET

if TYPE_CHECKING:
    from openvisor.machine.core import Machine

log = logging.getLogger(__name__)

CPUID = 0x410F_D214  # Arm Cortex-M33 r0p4
ICTR = 3  # INTLINESNUM: 4 x 32 interrupt lines, enough for 125 IRQs
MVFR0 = 0x1011_0021
MVFR1 = 0x1100_0011
MVFR2 = 0x0000_0040
AIRCR_VECTKEY = 0x05FA
AIRCR_VECTKEYSTAT = 0xFA05

ICSR_PENDSTCLR = 1 << 25
ICSR_PENDSTSET = 1 << 26
ICSR_PENDSVCLR = 1 << 27
ICSR_PENDSVSET = 1 << 28

SCR_SLEEPONEXIT = 1 << 1
SCR_SEVONPEND = 1 << 4

CCR_USERSETMPEND = 1 << 1

# The system control space proper: unprivileged accesses are BusFaults.
SCS_START = 0xE000
SCS_END = 0xF000
STIR = 0xEF00

DWT_CTRL = 0x0000_1000
DWT_CYCCNT = 0x0000_1004
DEMCR = 0x0000_EDFC

MAX_UNMODELLED_WARNINGS = 64
"""Distinct unmodelled registers the PPB warns about before it stops warning."""


class SystemControlSpace:
    """Register view of the core's system peripherals on the PPB."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self._warned: set[int] = set()
        self.reset()

    def reset(self) -> None:
        """Restore reset values of the registers stored here."""
        self.actlr = 0
        self.scr = 0
        self.cpacr = 0
        self.dwt_ctrl = 0x4000_0000  # NUMCOMP = 4
        self.demcr = 0
        self._cyccnt_base = 0
        self._cyccnt_value = 0

    def app_may_access(self, offset: int, write: bool) -> bool:
        """Check an access by the app's code and reject it with a precise BusFault.

        The SCS is privileged. From unprivileged Thread mode only STIR writes
        with CCR.USERSETMPEND set are allowed. Returns False when the access
        must not take effect: the run then stops before the instruction
        completes, and the BusFault is raised at it.
        """
        if not SCS_START <= offset < SCS_END:
            # NOTE: the rest of the PPB (DWT) is privileged on silicon too.
            return True
        machine = self.machine
        if machine.traps.stopping:
            return False  # an instruction that a hook already stopped
        xpsr, control = machine.registers.read_many([arm.UC_ARM_REG_XPSR, arm.UC_ARM_REG_CONTROL])
        if xpsr & 0x1FF or not control & 1:
            return True
        if write and offset & ~3 == STIR and machine.exception_unit.ccr & CCR_USERSETMPEND:
            return True
        machine.traps.bus_fault(0xE000_0000 + offset)
        return False

    # Dispatch on the aligned word; sub-word accesses shift and merge.

    def read(self, offset: int, size: int) -> int:
        """Read `size` bytes at `offset` from 0xE000_0000."""
        if 0xE400 <= offset < 0xE4F0:
            index = offset - 0xE400 + nv.IRQ_BASE
            return self._read_priority_bytes(index, size)
        if 0xED18 <= offset < 0xED24:
            return self._read_priority_bytes(offset - 0xED18 + 4, size)
        word_offset = offset & ~3
        shift = (offset & 3) * 8
        word = self._read_word(word_offset)
        mask = (1 << (8 * size)) - 1
        return (word >> shift) & mask

    def write(self, offset: int, size: int, value: int) -> None:
        """Write `size` bytes at `offset` from 0xE000_0000."""
        if 0xE400 <= offset < 0xE4F0:
            for i in range(size):
                self.machine.nvic.set_priority(offset - 0xE400 + nv.IRQ_BASE + i, value >> (8 * i))
            self.machine.exceptions_changed()
            return
        if 0xED18 <= offset < 0xED24:
            for i in range(size):
                self.machine.nvic.set_priority(offset - 0xED18 + 4 + i, value >> (8 * i))
            self.machine.exceptions_changed()
            return
        if size != 4:
            shift = (offset & 3) * 8
            if offset & ~3 == 0xED28:
                # CFSR sub-registers (MMFSR, BFSR, UFSR) are write-one-to-clear per byte.
                value = value << shift
            else:
                current = self._read_word(offset & ~3)
                mask = ((1 << (8 * size)) - 1) << shift
                value = (current & ~mask) | ((value << shift) & mask)
            offset &= ~3
        self._write_word(offset, value & 0xFFFFFFFF)
        self.machine.exceptions_changed()

    def _read_priority_bytes(self, first: int, size: int) -> int:
        value = 0
        for i in range(size):
            number = first + i
            priority = self.machine.nvic.priority[number] if number < nv.NUM_EXCEPTIONS else 0
            value |= (priority & 0xFF if priority >= 0 else 0) << (8 * i)
        return value

    def _irq_bits(self, offset: int, states: set[int] | list[bool]) -> int:
        first = (offset & 0x3F) // 4 * 32
        value = 0
        for bit in range(32):
            irq = first + bit
            if irq >= nv.NUM_IRQS:
                break
            exception = irq + nv.IRQ_BASE
            present = states[exception] if isinstance(states, list) else exception in states
            if present:
                value |= 1 << bit
        return value

    def _for_irq_bits(self, offset: int, value: int) -> list[int]:
        first = (offset & 0x3F) // 4 * 32
        return [
            first + bit + nv.IRQ_BASE
            for bit in range(32)
            if value >> bit & 1 and first + bit < nv.NUM_IRQS
        ]

    def _read_word(self, offset: int) -> int:
        machine = self.machine
        nvic = machine.nvic
        unit = machine.exception_unit
        if 0xE010 <= offset < 0xE020:
            return machine.systick.read(offset - 0xE010)
        if MPU_TYPE_OFFSET <= offset < MPU_END:
            return machine.mpu.read_register(offset)
        if 0xE100 <= offset < 0xE140 or 0xE180 <= offset < 0xE1C0:
            return self._irq_bits(offset, nvic.enabled)
        if 0xE200 <= offset < 0xE240 or 0xE280 <= offset < 0xE2C0:
            return self._irq_bits(offset, nvic.pending)
        if 0xE300 <= offset < 0xE340:
            return self._irq_bits(offset, nvic.active)
        if 0xE380 <= offset < 0xE3C0:
            return 0  # ITNS is secure-only: RAZ/WI from the non-secure view
        simple = {
            0xE004: ICTR,
            0xE008: self.actlr,
            0xED00: CPUID,
            0xED08: unit.vtor,
            0xED10: self.scr,
            0xED14: unit.ccr,
            0xED28: unit.cfsr,
            0xED2C: unit.hfsr,
            0xED34: unit.mmfar,
            0xED38: unit.bfar,
            0xED88: self.cpacr,
            0xED8C: 0x0000_0C00,  # NSACR: CP10 and CP11 usable from non-secure
            0xEDF0: 0,  # DHCSR: no debugger attached as far as the app can tell
            DEMCR: self.demcr,
            0xEF34: unit.read_fpccr(),
            0xEF38: unit.fpcar,
            0xEF3C: unit.fpdscr,
            0xEF40: MVFR0,
            0xEF44: MVFR1,
            0xEF48: MVFR2,
            DWT_CTRL: self.dwt_ctrl,
            DWT_CYCCNT: self._cyccnt(),
        }
        if offset in simple:
            return simple[offset]
        if offset == 0xED04:
            return self._icsr()
        if offset == 0xED0C:
            return (AIRCR_VECTKEYSTAT << 16) | (nvic.prigroup << 8)
        if offset == 0xED24:
            return self._shcsr()
        self._warn_unmodelled(offset)
        return 0

    def _write_word(self, offset: int, value: int) -> None:
        machine = self.machine
        nvic = machine.nvic
        unit = machine.exception_unit
        if 0xE010 <= offset < 0xE020:
            machine.systick.write(offset - 0xE010, value)
        elif 0xE100 <= offset < 0xE140:
            for exception in self._for_irq_bits(offset, value):
                nvic.set_enabled(exception, True)
        elif 0xE180 <= offset < 0xE1C0:
            for exception in self._for_irq_bits(offset, value):
                nvic.set_enabled(exception, False)
        elif 0xE200 <= offset < 0xE240:
            for exception in self._for_irq_bits(offset, value):
                nvic.set_pending(exception)
        elif 0xE280 <= offset < 0xE2C0:
            for exception in self._for_irq_bits(offset, value):
                nvic.clear_pending(exception)
        elif 0xE300 <= offset < 0xE3C0:
            pass  # IABR is read-only; ITNS is RAZ/WI from non-secure
        elif offset == 0xEF00:
            irq = value & 0x1FF
            if irq < nv.NUM_IRQS:
                nvic.set_pending(irq + nv.IRQ_BASE)
        elif offset == 0xED04:
            self._write_icsr(value)
        elif offset == 0xED08:
            unit.vtor = value & 0xFFFF_FF80
        elif offset == 0xED0C:
            self._write_aircr(value)
        elif offset == 0xED10:
            self.scr = value & 0x1E
            nvic.sevonpend = bool(self.scr & SCR_SEVONPEND)
        elif offset == 0xED14:
            # NONBASETHRDENA (bit 0) and STKALIGN (bit 9) are RES1 on ARMv8-M.
            unit.ccr = (value & 0x0007_051A) | 0x201
            machine.traps.update(unit.ccr)
        elif offset == 0xED24:
            # SECUREFAULTENA (bit 19) is RAZ/WI from the non-secure side.
            nvic.shcsr_enables = value & 0x0007_0000
            for exception in nv.SHCSR_WRITABLE_PENDED:
                if value & nv.SHCSR_PENDED_BITS[exception]:
                    nvic.set_pending(exception)
                elif exception in nvic.pending:
                    nvic.clear_pending(exception)
        elif offset == 0xED28:
            unit.cfsr &= ~value
        elif offset == 0xED2C:
            unit.hfsr &= ~value
        elif offset == 0xED88:
            self.cpacr = value & 0x00F0_0000
            machine.coprocessor.update(self.cpacr)
        elif MPU_TYPE_OFFSET <= offset < MPU_END:
            machine.mpu.write_register(offset, value)
        elif offset == DEMCR:
            self.demcr = value
        elif offset == 0xEF34:
            unit.fpccr = value & 0xC000_03FB
        elif offset == 0xEF38:
            unit.fpcar = value & ~7
        elif offset == 0xEF3C:
            unit.fpdscr = value & 0x07C0_0000
        elif offset == DWT_CTRL:
            self._cyccnt_value = self._cyccnt()
            self._cyccnt_base = machine.cycles
            self.dwt_ctrl = (self.dwt_ctrl & 0xF000_0000) | (value & 0x0FFF_FFFF)
        elif offset == DWT_CYCCNT:
            self._cyccnt_value = value
            self._cyccnt_base = machine.cycles
        elif offset == 0xE008:
            self.actlr = value
        else:
            self._warn_unmodelled(offset)

    # Composite registers

    def _icsr(self) -> int:
        machine = self.machine
        nvic = machine.nvic
        value = machine.current_exception() & 0x1FF
        if nvic.rettobase():
            value |= 1 << 11
        best = nvic.best_pending()
        if best is not None:
            value |= (best & 0x1FF) << 12
        if any(exception >= nv.IRQ_BASE for exception in nvic.pending):
            value |= 1 << 22
        if nv.SYSTICK in nvic.pending:
            value |= ICSR_PENDSTSET
        if nv.PENDSV in nvic.pending:
            value |= ICSR_PENDSVSET
        # PENDNMISET and PENDNMICLR are RAZ/WI from the non-secure state while
        # AIRCR.BFHFNMINS is 0: NMI belongs to the microvisor.
        return value

    def _write_icsr(self, value: int) -> None:
        nvic = self.machine.nvic
        if value & ICSR_PENDSVSET:
            nvic.set_pending(nv.PENDSV)
        elif value & ICSR_PENDSVCLR:
            nvic.clear_pending(nv.PENDSV)
        if value & ICSR_PENDSTSET:
            nvic.set_pending(nv.SYSTICK)
        elif value & ICSR_PENDSTCLR:
            nvic.clear_pending(nv.SYSTICK)

    def _write_aircr(self, value: int) -> None:
        """Apply PRIGROUP and SYSRESETREQ of a keyed write.

        Writes without VECTKEY are ignored. VECTCLRACTIVE (bit 1) is for a
        halted core only and does nothing here. BFHFNMINS, PRIS and
        SYSRESETREQS are Secure-only (RAZ/WI).
        """
        if value >> 16 != AIRCR_VECTKEY:
            return
        self.machine.nvic.prigroup = (value >> 8) & 7
        self.machine.nvic.changed = True
        if value & (1 << 2):
            self.machine.request_system_reset()

    def _shcsr(self) -> int:
        nvic = self.machine.nvic
        value = nvic.shcsr_enables
        for exception, bit in nv.SHCSR_ACTIVE_BITS.items():
            if exception in nvic.active:
                value |= bit
        for exception, bit in nv.SHCSR_PENDED_BITS.items():
            if exception in nvic.pending:
                value |= bit
        return value

    def _cyccnt(self) -> int:
        if not self.dwt_ctrl & 1:
            return self._cyccnt_value
        elapsed = self.machine.cycles - self._cyccnt_base
        return (self._cyccnt_value + elapsed) & 0xFFFFFFFF

    def _warn_unmodelled(self, offset: int) -> None:
        if offset in self._warned or len(self._warned) > MAX_UNMODELLED_WARNINGS:
            return
        self._warned.add(offset)
        if len(self._warned) > MAX_UNMODELLED_WARNINGS:
            # A scan of the private peripheral bus would otherwise log every word.
            log.warning(
                "Stop warning about unmodelled system registers (count=%d, last=%#010x)",
                MAX_UNMODELLED_WARNINGS,
                0xE000_0000 + offset,
            )
            return
        log.warning(
            "Access unmodelled system register (address=%#010x): reads zero, writes ignored",
            0xE000_0000 + offset,
        )
