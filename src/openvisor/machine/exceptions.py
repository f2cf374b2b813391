"""Exception entry, return and fault routing for the emulated Cortex-M33.

Unicorn 2.1.4 stacks nothing: SVC arrives as QEMU exception 2 and a branch
to an EXC_RETURN value in Handler mode as exception 8. This module does
what the hardware does between two emulation runs, following the ARMv8-M
pseudocode (PushStack, ExceptionTaken, ExceptionReturn) for a core that
runs entirely in the non-secure state:

- entry stacks R0-R3, R12, LR, the return address and xPSR on MSP or
  PSP, plus S0-S15 and FPSCR when CONTROL.FPCA is set. The frame is
  aligned to 8 bytes and xPSR bit 9 records the padding. LR gets
  EXC_RETURN and the core switches to Handler mode on MSP.
- return decodes EXC_RETURN (bit 2 SPSEL, bit 3 Mode, bit 4 FType),
  unstacks and restores CONTROL.SPSEL and CONTROL.FPCA.

Unicorn keeps MSP and PSP in one banked slot whose meaning follows IPSR
and CONTROL.SPSEL, and it ignores MSR writes from unprivileged code, so a
mode change goes through `_switch_mode`, which passes through privileged
Thread mode with SPSEL clear before setting the final state.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from unicorn import arm_const as arm

from openvisor.machine import memory_map as mm
from openvisor.machine import nvic as nv
from openvisor.machine.mpu import MMFSR_MSTKERR, MMFSR_MUNSTKERR
from openvisor.machine.results import FaultKind

if TYPE_CHECKING:
    from openvisor.machine.core import Machine

log = logging.getLogger(__name__)

CONTROL_NPRIV = 1 << 0
CONTROL_SPSEL = 1 << 1
CONTROL_FPCA = 1 << 2
CONTROL_SFPA = 1 << 3

EXC_RETURN_PREFIX = 0xFFFFFF00
EXC_RETURN_SPSEL = 1 << 2
EXC_RETURN_MODE = 1 << 3
EXC_RETURN_FTYPE = 1 << 4
EXC_RETURN_DCRS = 1 << 5
EXC_RETURN_ES = 1 << 0
EXC_RETURN_S = 1 << 6
# Bits 7 and 5 set, S (bit 6) and ES (bit 0) clear: a non-secure exception
# that stacked on a non-secure stack, e.g. 0xFFFFFFBC for Thread mode on PSP.
EXC_RETURN_BASE = 0xFFFFFF80 | EXC_RETURN_DCRS

XPSR_ALIGN = 1 << 9
XPSR_T = 1 << 24
XPSR_IT_MASK = (0x3 << 25) | (0x3F << 10)
XPSR_IPSR_MASK = 0x1FF
XPSR_NZCV_MASK = 0xF000_0000

BASIC_FRAME = 0x20
EXTENDED_FRAME = 0x68

# UsageFault status bits (CFSR bits 16-31).
UFSR_UNDEFINSTR = 1 << 16
UFSR_INVSTATE = 1 << 17
UFSR_INVPC = 1 << 18
UFSR_NOCP = 1 << 19
UFSR_STKOF = 1 << 20
UFSR_UNALIGNED = 1 << 24
UFSR_DIVBYZERO = 1 << 25

HFSR_VECTTBL = 1 << 1
HFSR_FORCED = 1 << 30

FPCCR_LSPACT = 1 << 0
FPCCR_LSPEN = 1 << 30
FPCCR_ASPEN = 1 << 31

_FRAME_REGS = [
    arm.UC_ARM_REG_R0,
    arm.UC_ARM_REG_R1,
    arm.UC_ARM_REG_R2,
    arm.UC_ARM_REG_R3,
    arm.UC_ARM_REG_R12,
    arm.UC_ARM_REG_LR,
]
_STATE_REGS = [
    *_FRAME_REGS,
    arm.UC_ARM_REG_XPSR,
    arm.UC_ARM_REG_CONTROL,
    arm.UC_ARM_REG_SP,
]
_RETURN_REGS = [
    arm.UC_ARM_REG_XPSR,
    arm.UC_ARM_REG_CONTROL,
    arm.UC_ARM_REG_MSP,
    arm.UC_ARM_REG_PSP,
]
_MASK_REGS = [arm.UC_ARM_REG_PRIMASK, arm.UC_ARM_REG_BASEPRI, arm.UC_ARM_REG_FAULTMASK]
# One batch for entry: _STATE_REGS, then MSP, PSP and the three masks.
_SNAPSHOT_REGS = [*_STATE_REGS, arm.UC_ARM_REG_MSP, arm.UC_ARM_REG_PSP, *_MASK_REGS]
_FP_REGS = [arm.UC_ARM_REG_S0 + i for i in range(16)] + [arm.UC_ARM_REG_FPSCR]


class FaultEscalation(Exception):
    """Internal signal: a fault could not be routed to any app handler."""

    def __init__(self, kind: FaultKind, description: str, address: int | None = None) -> None:
        super().__init__(description)
        self.kind = kind
        self.description = description
        self.address = address


class ExceptionUnit:
    """Entry, return and fault routing; state lives in `Nvic` and the SCB."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.nvic = machine.nvic
        self.regs = machine.registers
        self.vtor = 0x0800_0000
        # CCR reset value: STKALIGN (bit 9) and bit 0 are RES1 on ARMv8-M.
        self.ccr = 0x0000_0201
        self.cfsr = 0
        self.hfsr = 0
        self.mmfar = 0
        self.bfar = 0
        self.fpccr = FPCCR_ASPEN | FPCCR_LSPEN
        self.fpcar = 0
        self.fpdscr = 0

    def reset(self) -> None:
        """Restore the SCB fault and FP context state to its reset values."""
        self.ccr = 0x0000_0201
        self.cfsr = 0
        self.hfsr = 0
        self.fpccr = FPCCR_ASPEN | FPCCR_LSPEN
        self.fpcar = 0
        self.fpdscr = 0

    def settle_lazy_state(self, control: int) -> None:
        """Clear FPCCR.LSPACT once an FP instruction has run since the frame was reserved.

        Unicorn sets CONTROL.FPCA at the first FP instruction after exception
        entry cleared it. On silicon that instruction performs the lazy state
        preservation, which clears LSPACT, so FPCA set while LSPACT is set
        means the preservation has happened.
        """
        if self.fpccr & FPCCR_LSPACT and control & CONTROL_FPCA:
            self.fpccr &= ~FPCCR_LSPACT

    def read_fpccr(self) -> int:
        """Return FPCCR as the app reads it: LSPACT clears at the first FP instruction."""
        if self.fpccr & FPCCR_LSPACT:
            self.settle_lazy_state(self.regs.read(arm.UC_ARM_REG_CONTROL))
            if not self.fpccr & FPCCR_LSPACT:
                self.machine.exceptions_changed()  # the native loop's copy too
        return self.fpccr

    # Privileged views of the core state

    def unprivileged_thread(self) -> bool:
        """Return whether the core runs in unprivileged Thread mode."""
        xpsr, control = self.regs.read_many([arm.UC_ARM_REG_XPSR, arm.UC_ARM_REG_CONTROL])
        return self._unprivileged_thread(xpsr, control)

    def _unprivileged_thread(self, xpsr: int, control: int) -> bool:
        return (xpsr & XPSR_IPSR_MASK) == 0 and bool(control & CONTROL_NPRIV)

    def _read_privileged(self, regids: list[int]) -> list[int]:
        """Read registers that Unicorn reads as zero from unprivileged Thread mode.

        The read happens with IPSR briefly set to a non-zero value, which makes
        the core privileged without touching its banked stack pointer.
        """
        xpsr, control = self.regs.read_many([arm.UC_ARM_REG_XPSR, arm.UC_ARM_REG_CONTROL])
        if not self._unprivileged_thread(xpsr, control):
            return self.regs.read_many(regids)
        self.regs.write(arm.UC_ARM_REG_IPSR, 1)
        try:
            return self.regs.read_many(regids)
        finally:
            self.regs.write(arm.UC_ARM_REG_IPSR, 0)

    def write_privileged(self, regid: int, value: int) -> None:
        """Write PRIMASK, BASEPRI or FAULTMASK, also from unprivileged Thread mode.

        Unicorn ignores these writes there, so IPSR is non-zero for the write.
        """
        xpsr, control = self.regs.read_many([arm.UC_ARM_REG_XPSR, arm.UC_ARM_REG_CONTROL])
        if not self._unprivileged_thread(xpsr, control):
            self.regs.write(regid, value)
            return
        self.regs.write_many([(arm.UC_ARM_REG_IPSR, 1), (regid, value), (arm.UC_ARM_REG_IPSR, 0)])

    def write_control(self, value: int) -> None:
        """Write CONTROL (nPRIV, SPSEL, FPCA) as a debugger does, also from unprivileged code.

        SPSEL takes effect in Thread mode only, and MSP and PSP keep their values.
        """
        xpsr, control, sp = self.regs.read_many(
            [arm.UC_ARM_REG_XPSR, arm.UC_ARM_REG_CONTROL, arm.UC_ARM_REG_SP]
        )
        msp, psp = self.stack_pointers(xpsr, control, sp)
        mask = CONTROL_NPRIV | CONTROL_SPSEL | CONTROL_FPCA
        self._switch_mode(
            ipsr=xpsr & XPSR_IPSR_MASK, control=value & mask, msp=msp, psp=psp, xpsr=xpsr
        )

    def stack_pointers(self, xpsr: int, control: int, sp: int) -> tuple[int, int]:
        """Return (MSP, PSP), also when the core runs unprivileged."""
        if not self._unprivileged_thread(xpsr, control):
            msp, psp = self.regs.read_many([arm.UC_ARM_REG_MSP, arm.UC_ARM_REG_PSP])
            return msp, psp
        # An IPSR write banks SP like exception entry does: with IPSR non-zero
        # the live slot holds MSP and the other one PSP, whichever CONTROL.SPSEL
        # selected before, so both registers read their own values. Writing
        # IPSR back to zero restores the Thread mode banking.
        self.regs.write(arm.UC_ARM_REG_IPSR, 1)
        try:
            msp, psp = self.regs.read_many([arm.UC_ARM_REG_MSP, arm.UC_ARM_REG_PSP])
        finally:
            self.regs.write(arm.UC_ARM_REG_IPSR, 0)
        return msp, psp

    def snapshot(self) -> list[int]:
        """Read R0-R3, R12, LR, xPSR, CONTROL, SP, MSP, PSP and the masks in one call."""
        values = self.regs.read_many(_SNAPSHOT_REGS)
        xpsr, control, sp = values[6], values[7], values[8]
        if self._unprivileged_thread(xpsr, control):
            # Unprivileged reads of MSP, PSP and the masks return zero.
            values[9], values[10] = self.stack_pointers(xpsr, control, sp)
            values[11:14] = self._read_privileged(_MASK_REGS)
        return values

    def _snapshot_priority(self, values: list[int]) -> int:
        primask, basepri, faultmask = values[11:14]
        return self.nvic.execution_priority(primask=primask, basepri=basepri, faultmask=faultmask)

    # Priorities seen by the core

    def execution_priority(self) -> int:
        """Return the execution priority including PRIMASK, BASEPRI and FAULTMASK."""
        primask, basepri, faultmask = self._read_privileged(_MASK_REGS)
        return self.nvic.execution_priority(primask=primask, basepri=basepri, faultmask=faultmask)

    def take_pending(self) -> bool:
        """Enter the best pending exception if it preempts; return whether one was taken."""
        if not self.nvic.pending:
            return False
        best = self.nvic.best_pending()
        if best is None:
            return False
        values = self.snapshot()
        if self.nvic.group_priority(best) >= self._snapshot_priority(values):
            return False
        self.enter(best, self.machine.pc, values)
        return True

    def wake_pending(self) -> bool:
        """Return whether a pending exception wakes WFI (PRIMASK is ignored for waking)."""
        best = self.nvic.best_pending()
        if best is None:
            return False
        _, basepri, faultmask = self._read_privileged(_MASK_REGS)
        priority = self.nvic.execution_priority(primask=0, basepri=basepri, faultmask=faultmask)
        return self.nvic.group_priority(best) < priority

    # Synchronous faults

    def usage_fault(self, status_bit: int, return_address: int, description: str) -> None:
        """Raise a UsageFault: to its handler if enabled and allowed, else HardFault."""
        self.cfsr |= status_bit
        self._route_fault(nv.USAGEFAULT, return_address, description)

    def supervisor_call(self, return_address: int) -> None:
        """Take SVCall now, escalating to HardFault when it cannot preempt."""
        values = self.snapshot()
        priority = self._snapshot_priority(values)
        if self.nvic.group_priority(nv.SVCALL) < priority:
            self.enter(nv.SVCALL, return_address, values)
            return
        self._escalate(return_address, "SVC executed at or above the SVCall priority", priority)

    def _route_fault(self, exception: int, return_address: int, description: str) -> None:
        priority = self.execution_priority()
        if self.nvic.is_enabled(exception) and self.nvic.group_priority(exception) < priority:
            log.debug("Route fault to handler (exception=%d, pc=%#010x)", exception, return_address)
            self.enter(exception, return_address)
            return
        self._escalate(return_address, description, priority)

    def _escalate(self, return_address: int, description: str, priority: int) -> None:
        if priority <= -1:
            raise FaultEscalation(
                FaultKind.LOCKUP, f"lockup: {description} while HardFault or NMI was active"
            )
        self.hfsr |= HFSR_FORCED
        self.enter(nv.HARDFAULT, return_address)

    # Entry

    def enter(self, exception: int, return_address: int, values: list[int] | None = None) -> None:
        """Stack the context and start the handler of `exception` (ARMv8-M ExceptionEntry).

        `values` is a `snapshot()` taken since the last register change, if any.
        """
        machine = self.machine
        if values is None:
            values = self.snapshot()
        r0, r1, r2, r3, r12, lr, xpsr, control, sp, msp, psp = values[:11]
        handler_mode = (xpsr & XPSR_IPSR_MASK) != 0
        on_psp = not handler_mode and bool(control & CONTROL_SPSEL)
        extended = bool(control & CONTROL_FPCA)

        # PushStack: frame size, 8-byte alignment, xPSR bit 9 marks the padding.
        sp = psp if on_psp else msp
        frame_size = EXTENDED_FRAME if extended else BASIC_FRAME
        frame = (sp - frame_size) & ~0x7 & 0xFFFFFFFF
        padded = (sp >> 2) & 1
        stacked_xpsr = (xpsr & ~XPSR_ALIGN) | (padded << 9)
        words = [r0, r1, r2, r3, r12, lr, return_address & ~1, stacked_xpsr]
        if extended:
            fp_values = self.regs.read_many(_FP_REGS)
            # S0-S15, FPSCR and one reserved word. The registers are written at
            # entry even with lazy stacking enabled: until the handler's first FP
            # instruction they hold exactly the values a lazy save would store.
            words += fp_values + [0]
            if self.fpccr & FPCCR_LSPEN:
                self.fpccr |= FPCCR_LSPACT
            self.fpcar = frame + BASIC_FRAME
        msplim, psplim = machine.stack_limits.read()
        limit = psplim if on_psp else msplim
        new_sp = frame
        if frame < limit:
            # ARMv8-M PushStack: no word of the frame is written below the
            # limit, SP becomes the limit and a UsageFault STKOF is derived.
            skipped = min(len(words), (limit - frame + 3) // 4)
            words = words[skipped:]
            frame += 4 * skipped
            new_sp = limit
            exception = self._derive_stack_overflow(exception, values)
        privileged = handler_mode or not control & CONTROL_NPRIV
        if words and not machine.mpu.stacking_allowed(
            frame, 4 * len(words), write=True, privileged=privileged
        ):
            # MSTKERR: the MPU keeps the frame out of memory, SP still moves.
            words = []
            exception = self._derive_fault(
                exception, values, nv.MEMMANAGE, MMFSR_MSTKERR, "MPU violation while stacking"
            )
        if words and not machine.write_stack(frame, words):
            raise FaultEscalation(
                FaultKind.STACKING,
                f"exception entry stacking to {frame:#010x} left application SRAM",
                frame,
            )
        if on_psp:
            psp = new_sp
        else:
            msp = new_sp

        vector_address = self.vtor + 4 * exception
        vector = machine.read_word(vector_address)
        if mm.GATEWAY_BASE <= vector_address < mm.GATEWAY_BASE + mm.GATEWAY_PAGE_SIZE:
            vector = None  # the gateway is secure memory: no data reads, vectors included
        if vector is None:
            self.hfsr |= HFSR_VECTTBL
            raise FaultEscalation(
                FaultKind.LOCKUP,
                f"vector table read at {self.vtor + 4 * exception:#010x} failed "
                f"(VTOR={self.vtor:#x})",
                self.vtor + 4 * exception,
            )

        exc_return = EXC_RETURN_BASE
        if not extended:
            exc_return |= EXC_RETURN_FTYPE
        if not handler_mode:
            exc_return |= EXC_RETURN_MODE
        if on_psp:
            exc_return |= EXC_RETURN_SPSEL

        self.nvic.activate(exception)
        new_control = control & CONTROL_NPRIV
        self._switch_mode(
            ipsr=exception,
            control=new_control,
            msp=msp,
            psp=psp,
            xpsr=XPSR_T | exception,
            extra=[(arm.UC_ARM_REG_LR, exc_return), (arm.UC_ARM_REG_PC, vector | 1)],
        )
        log.debug(
            "Enter exception (number=%d, return=%#010x, frame=%#010x, exc_return=%#010x)",
            exception,
            return_address,
            frame,
            exc_return,
        )
        if not vector & 1:
            # A vector without the Thumb bit faults on its first instruction.
            self.usage_fault(UFSR_INVSTATE, vector & ~1, "vector without the Thumb bit")

    def _derive_stack_overflow(self, exception: int, values: list[int]) -> int:
        """Return the exception to enter after a stack limit violation while stacking."""
        return self._derive_fault(
            exception, values, nv.USAGEFAULT, UFSR_STKOF, "stack limit violation"
        )

    def _derive_fault(
        self, exception: int, values: list[int], fault: int, status_bit: int, what: str
    ) -> int:
        """Return the exception to enter after a fault while stacking.

        This is DerivedLateArrival of the Armv8-M pseudocode: the derived
        `fault` (HardFault when it is disabled or cannot preempt) and the
        original exception compete by priority, and the loser stays pending.
        """
        nvic = self.nvic
        self.cfsr |= status_bit
        priority = self._snapshot_priority(values)
        derived = fault
        if not nvic.is_enabled(derived) or nvic.group_priority(derived) >= priority:
            if priority <= -1:
                raise FaultEscalation(
                    FaultKind.LOCKUP,
                    f"lockup: {what} on exception entry while HardFault or NMI was active",
                )
            self.hfsr |= HFSR_FORCED
            derived = nv.HARDFAULT
        log.info(
            "Fault on exception entry (fault=%s, exception=%d, derived=%d)",
            what,
            exception,
            derived,
        )
        if derived == exception:
            return exception

        def order(number: int) -> tuple[int, int, int]:
            return (nvic.group_priority(number), nvic.priority[number], number)

        if order(derived) < order(exception):
            nvic.set_pending(exception)
            return derived
        nvic.set_pending(derived)
        return exception

    # Return

    def exception_return(self, exc_return: int) -> None:
        """Return from the active exception through an EXC_RETURN value."""
        machine = self.machine
        # EXC_RETURN is only taken in Handler mode, which is privileged.
        xpsr, control, msp, psp = self.regs.read_many(_RETURN_REGS)
        self.settle_lazy_state(control)
        returning = xpsr & XPSR_IPSR_MASK
        if returning not in self.nvic.active:
            self.usage_fault(
                UFSR_INVPC, exc_return, f"EXC_RETURN from inactive exception {returning}"
            )
            return
        if exc_return & (EXC_RETURN_ES | EXC_RETURN_S) or not exc_return & EXC_RETURN_DCRS:
            # From a non-secure exception these name the Secure state or its
            # stacking: the integrity check fails with a SecureFault, which
            # belongs to the microvisor.
            raise FaultEscalation(
                FaultKind.INVALID_STATE,
                f"exception return with EXC_RETURN={exc_return:#010x}, which names the Secure "
                "state (SecureFault)",
            )
        to_thread = bool(exc_return & EXC_RETURN_MODE)
        on_psp = to_thread and bool(exc_return & EXC_RETURN_SPSEL)
        extended = not exc_return & EXC_RETURN_FTYPE
        others_active = len(self.nvic.active) > 1
        if to_thread and others_active and not self.ccr & 1:
            # CCR.NONBASETHRDENA is clear: Thread mode while nested is illegal.
            self.usage_fault(UFSR_INVPC, exc_return, "return to Thread mode while nested")
            return

        sp = psp if on_psp else msp
        frame_size = EXTENDED_FRAME if extended else BASIC_FRAME
        words = machine.read_stack(sp, frame_size // 4)
        if words is None:
            raise FaultEscalation(
                FaultKind.STACKING,
                f"exception return unstacking from {sp:#010x} left application SRAM",
                sp,
            )
        privileged = not (to_thread and control & CONTROL_NPRIV)
        if not machine.mpu.stacking_allowed(sp, frame_size, write=False, privileged=privileged):
            # NOTE: MUNSTKERR is taken like INVPC above, with EXC_RETURN as the
            # stacked return address, not as a tail-chained MemManage.
            self.cfsr |= MMFSR_MUNSTKERR
            self._route_fault(nv.MEMMANAGE, exc_return, f"MPU denied unstacking from {sp:#010x}")
            return
        r0, r1, r2, r3, r12, lr, return_address, stacked_xpsr = words[:8]
        stacked_ipsr = stacked_xpsr & XPSR_IPSR_MASK
        if to_thread != (stacked_ipsr == 0):
            self.usage_fault(UFSR_INVPC, exc_return, "EXC_RETURN mode does not match stacked IPSR")
            return

        self.nvic.deactivate(returning)
        new_sp = (sp + frame_size + (4 if stacked_xpsr & XPSR_ALIGN else 0)) & 0xFFFFFFFF
        if on_psp:
            psp = new_sp
        else:
            msp = new_sp
        new_control = control & CONTROL_NPRIV
        if on_psp:
            new_control |= CONTROL_SPSEL
        if extended:
            new_control |= CONTROL_FPCA
            self.fpccr &= ~FPCCR_LSPACT
            self.regs.write_many(list(zip(_FP_REGS, words[8:25], strict=True)))

        thumb = stacked_xpsr & XPSR_T
        restore = list(zip(_FRAME_REGS, [r0, r1, r2, r3, r12, lr], strict=True))
        restore.append((arm.UC_ARM_REG_PC, (return_address & ~1) | 1))
        self._switch_mode(
            ipsr=stacked_ipsr,
            control=new_control,
            msp=msp,
            psp=psp,
            xpsr=stacked_xpsr & ~XPSR_ALIGN,
            extra=restore,
            # FAULTMASK clears on return from any exception but NMI.
            clear_faultmask=returning != nv.NMI,
        )
        log.debug(
            "Return from exception (number=%d, exc_return=%#010x, pc=%#010x)",
            returning,
            exc_return,
            return_address,
        )
        if not thumb:
            self.usage_fault(UFSR_INVSTATE, return_address, "return with EPSR.T clear")

    # Mode switching

    def _switch_mode(
        self,
        *,
        ipsr: int,
        control: int,
        msp: int,
        psp: int,
        xpsr: int,
        extra: list[tuple[int, int]] | None = None,
        clear_faultmask: bool = False,
    ) -> None:
        """Set IPSR, CONTROL, MSP and PSP so that Unicorn's banked SP agrees.

        Unicorn honours CONTROL.SPSEL writes only in privileged Thread mode
        and MSP/PSP writes only when privileged. So the sequence enters
        Handler mode (always privileged) and clears nPRIV, drops to Thread
        mode with SPSEL clear, writes both stack pointers, then applies the
        target state.
        """
        fp_bits = control & CONTROL_FPCA
        if fp_bits:
            fp_bits |= CONTROL_SFPA  # keeps Unicorn from resetting FPSCR on the next FP op
        pairs = [(arm.UC_ARM_REG_IPSR, 1)]
        if clear_faultmask:
            pairs.append((arm.UC_ARM_REG_FAULTMASK, 0))
        pairs += [
            (arm.UC_ARM_REG_CONTROL, fp_bits),
            (arm.UC_ARM_REG_IPSR, 0),
            (arm.UC_ARM_REG_CONTROL, fp_bits),
            (arm.UC_ARM_REG_MSP, msp),
            (arm.UC_ARM_REG_PSP, psp),
        ]
        if ipsr == 0:
            if control & CONTROL_SPSEL:
                pairs.append((arm.UC_ARM_REG_CONTROL, fp_bits | CONTROL_SPSEL))
        else:
            pairs.append((arm.UC_ARM_REG_IPSR, ipsr))
        final = fp_bits | (control & (CONTROL_NPRIV | (CONTROL_SPSEL if ipsr == 0 else 0)))
        pairs.append((arm.UC_ARM_REG_CONTROL, final))
        pairs.append((arm.UC_ARM_REG_XPSR_NZCVQG, (xpsr & ~XPSR_IPSR_MASK) | ipsr))
        # Unicorn 2.1.4 caches the privilege level in its hflags, which select
        # the translated blocks and TLB entries code runs with. IPSR and
        # CONTROL writes leave that cache stale, so code after the switch
        # could run with the old privilege (CPSID ignored in a handler, blocks
        # checked for privileged code run unprivileged). An APSR_NZCV write
        # rebuilds the cache.
        pairs.append((arm.UC_ARM_REG_APSR_NZCV, xpsr & XPSR_NZCV_MASK))
        if extra:
            pairs.extend(extra)
        self.regs.write_many(pairs)
