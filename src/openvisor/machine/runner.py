"""The run loop: slices of native execution between virtual-time deadlines.

Each slice is one call of the native ``ov_run`` loop (`uc_emu_start`
when single-stepping). The native block hook ends a slice at the first
block boundary where the cycle count reaches the deadline (the next
scheduled event or the end of the budget), so events fire at the same
instruction whatever the slice size. Inside a slice ``ov_run`` takes
the common exception entries and returns and pends SysTick at each wrap
itself. Between slices the loop runs due events, takes pending
exceptions, serves gateway calls and handles whatever else stopped the CPU.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from unicorn import arm_const as arm
from unicorn import unicorn_const as ucc
from unicorn.unicorn_py3.unicorn import uclib

from openvisor.errors import MemoryAccessError
from openvisor.machine import _native
from openvisor.machine import memory_map as mm
from openvisor.machine.clock import Pacing
from openvisor.machine.core import (
    _USAGE_FAULTS,
    EXCP_BKPT,
    EXCP_EXCEPTION_EXIT,
    EXCP_SWI,
)
from openvisor.machine.exceptions import (
    UFSR_DIVBYZERO,
    UFSR_INVSTATE,
    UFSR_NOCP,
    UFSR_UNDEFINSTR,
    XPSR_T,
    FaultEscalation,
)
from openvisor.machine.results import FaultKind, RunReason, RunResult
from openvisor.machine.scs import SCR_SLEEPONEXIT

if TYPE_CHECKING:
    from openvisor.machine.core import Machine

log = logging.getLogger(__name__)

# In real-time pacing a slice covers at most 1 ms of virtual time.
REALTIME_SLICE_SECONDS = 0.001


class _Finished(Exception):
    """Internal: a slice produced the result of the run."""

    def __init__(self, result: RunResult) -> None:
        super().__init__(result.reason.value)
        self.result = result


def run_loop(machine: Machine, max_cycles: int) -> RunResult:
    """Run `machine` for at most `max_cycles` virtual cycles."""
    core = machine._core
    start = int(core.count)
    end = start + max_cycles
    debug = machine.debug
    debug.resume_address = machine.pc if debug.breakpoints else None
    # Real-time pacing measures from the start of this run, so time the
    # host spent between runs is not made up by running fast.
    machine._wall_anchor = None
    try:
        while True:
            _run_due_events(machine)
            if machine._stop_requested:
                machine._stop_requested = False
                return RunResult(RunReason.STOP, core.count - start)
            if machine._reset_requested:
                machine._reset_requested = False
                return RunResult(RunReason.RESET, core.count - start)
            if core.count >= end:
                return RunResult(RunReason.BUDGET, core.count - start)

            if machine._sleeping:
                if _wakes(machine):
                    machine._sleeping = False
                    continue
                if _idle(machine, end):
                    return RunResult(RunReason.SLEEP, core.count - start)
                continue

            if _take_pending(machine):
                debug.resume_address = None
            native = _native_allowed(machine)
            if native:
                # SysTick wraps within the slice are pended by the native loop.
                machine.systick.hand_off()
            try:
                deadline = end
                next_event = machine.events.next_cycle()
                if next_event is not None and next_event < deadline:
                    deadline = next_event
                if machine.pacing is Pacing.REALTIME:
                    deadline = min(
                        deadline, core.count + int(machine.clock_hz * REALTIME_SLICE_SECONDS)
                    )
                _execute(machine, deadline=deadline, count=0)
            finally:
                if native:
                    machine.systick.take_back()
            if machine.pacing is Pacing.REALTIME:
                machine._pace(core.count)
    except _Finished as finished:
        result = finished.result
        return RunResult(result.reason, core.count - start, result.fault, result.address)
    except FaultEscalation as escalation:
        return RunResult(RunReason.CRASH, core.count - start, machine.escalation_record(escalation))


def step_once(machine: Machine) -> RunResult:
    """Execute one instruction, or take one pending exception, then stop."""
    core = machine._core
    start = int(core.count)
    try:
        _run_due_events(machine)
        if machine._sleeping:
            if _wakes(machine):
                machine._sleeping = False
            else:
                next_event = machine.events.next_cycle()
                if next_event is not None:
                    _sleep_until(core, next_event)
                return RunResult(RunReason.STEP, core.count - start)
        if machine.exception_unit.take_pending():
            return RunResult(RunReason.STEP, core.count - start)
        start_pc = machine.pc
        it_before = _read_it_state(machine)
        exception_before = machine.current_exception()
        machine.debug.resume_address = start_pc
        core.counting = 0
        # uc_emu_start with a count adds its counting hook without dropping
        # the blocks that runs translated before: such a block never reaches
        # the hook, so the step would run on without end.
        machine._uc.ctl_flush_tb()
        try:
            _execute(machine, deadline=core.count + 1, count=1)
        finally:
            core.counting = 1
            # Stepping translates one-instruction blocks; dropping them keeps
            # later block boundaries, and so MMIO-observed time, unchanged.
            machine._uc.ctl_flush_tb()
        if core.credit:
            core.credit -= 1  # counted already (see ``credit`` in _native.h)
        else:
            core.count += 1
        if machine.current_exception() == exception_before:
            # Unicorn does not write back the IT state after a single step.
            code = machine.mem_read(start_pc, 4) if _halfword(machine, start_pc) else b""
            _write_it_state(machine, _it_state_after(code[: _instruction_size(code)], it_before))
        if machine.pc == start_pc + 2 and _halfword(machine, start_pc) == _WFI:
            machine._sleeping = not machine.exception_unit.wake_pending()
        return RunResult(RunReason.STEP, core.count - start)
    except _Finished as finished:
        result = finished.result
        return RunResult(result.reason, core.count - start, result.fault, result.address)
    except FaultEscalation as escalation:
        return RunResult(RunReason.CRASH, core.count - start, machine.escalation_record(escalation))


def _run_due_events(machine: Machine) -> None:
    now = machine._core.count
    while (event := machine.events.pop_due(now)) is not None:
        event.callback()
    if machine.nvic.changed:
        machine.exceptions_changed()


def _wakes(machine: Machine) -> bool:
    """Return whether a sleeping core wakes: a pending exception, or an event in WFE."""
    nvic = machine.nvic
    if machine.exception_unit.wake_pending():
        nvic.waiting_for_event = False
        return True
    return nvic.waiting_for_event and machine.traps.event_registered() and nvic.wake_on_event()


def _idle(machine: Machine, end: int) -> bool:
    """Fast-forward a sleeping core to its next event; return True if none is due by `end`."""
    core = machine._core
    next_event = machine.events.next_cycle()
    target = end if next_event is None or next_event > end else next_event
    if machine.pacing is Pacing.REALTIME:
        machine._pace(target)
        if machine._stop_requested:
            return False
    _sleep_until(core, target)
    return target == end and (next_event is None or next_event > end)


def _sleep_until(core: _native.Core, target: int) -> None:
    """Let a sleeping core's time reach `target`, using up the credit first.

    The count runs ahead of the instructions executed by ``credit`` cycles
    (see ``_native.h``): time really reaches `target` only once the count
    minus the credit does.
    """
    count = int(core.count)
    executed = max(count - int(core.credit), target)
    core.credit = max(0, count - executed)
    core.count = max(count, executed)


def _execute(machine: Machine, *, deadline: int, count: int) -> None:
    """Run one native slice and handle what stopped it."""
    core = machine._core
    nvic = machine.nvic
    debug = machine.debug
    if nvic.changed:
        machine.exceptions_changed()
    if count == 0 and _native_allowed(machine):
        _publish_for_native(machine)
    else:
        core.native = 0
    if core.pending_prio != _native.NO_PENDING and machine.exception_unit.unprivileged_thread():
        # Unprivileged code cannot change the masks, and the native hook reads
        # them as zero there: without this it would stop at every block.
        core.pending_prio = _native.NO_PENDING
    machine.mpu.apply()
    core.deadline = deadline
    core.stop_flags = 0
    debug.hit = None
    if machine._stop_requested or machine._reset_requested:
        core.deadline = 0  # a stop requested from another thread just now
    unverified = core.store_unverified
    machine._running = True
    try:
        if count:
            status = uclib.uc_emu_start(machine._handle, machine.pc | 1, 0, 0, count)
        else:
            status = machine._native_loop.run()
    finally:
        machine._running = False
        if core.nvic_changed:
            machine._sync_native()
    debug.resume_address = None
    flags = core.stop_flags
    machine.traps.collect()
    if core.it_exit_request:
        machine._hook_it_exit()
    if core.store_unverified != unverified:
        # Unexpected (see _store.c): the instruction at PC runs again.
        log.warning(
            "Stop after a store found another instruction (pc=%#010x, address=%#010x)",
            machine.pc,
            core.store_address,
        )

    if machine.mpu.detect_violation(status):
        if core.counting and status != ucc.UC_ERR_FETCH_PROT:
            # The block's later instructions were counted but never ran.
            _rewind_partial_block(machine, machine.pc)
        machine.mpu.take_violation()
        return
    if flags & _native.STOP_MEMORY or status in _MEMORY_STATUSES:
        raise _Finished(_memory_fault(machine, status))
    if flags & _native.STOP_INTERRUPT:
        _handle_interrupt(machine, core.intno, machine.pc if count else core.stop_pc & ~1)
    elif status == ucc.UC_ERR_INSN_INVALID:
        _handle_invalid_instruction(machine)
    elif status != ucc.UC_ERR_OK:
        record = machine.fault_record(
            FaultKind.INVALID_STATE, f"Unicorn stopped with error {status} at {machine.pc:#010x}"
        )
        raise _Finished(RunResult(RunReason.CRASH, 0, record))
    else:
        _check_sleep(machine, flags, count)
    # A watchpoint hit may precede an exception return in the same slice:
    # the return above completes first, so the run resumes cleanly.
    hit = machine.debug.hit
    if hit is not None:
        kind, address = hit
        if kind == "breakpoint":
            if core.counting:
                _rewind_partial_block(machine, address)
            raise _Finished(RunResult(RunReason.BREAKPOINT, 0, address=address))
        if kind == "trap":
            # A trap hook abandoned the instruction at PC (see machine/traps.py).
            pc = machine.pc
            if core.counting and machine.traps.abandoned:
                _rewind_partial_block(machine, pc)
            machine.debug.hit = None
            machine.traps.resolve(pc)
            return
        if kind == "divbyzero":
            if core.counting:
                _rewind_partial_block(machine, address)
            machine.debug.hit = None
            machine.exception_unit.usage_fault(UFSR_DIVBYZERO, address, "division by zero")
            return
        if kind == "nocp":
            if core.counting:
                _rewind_partial_block(machine, address)
            machine.debug.hit = None
            machine.exception_unit.usage_fault(
                UFSR_NOCP, address, "FP instruction while CPACR denies CP10 and CP11"
            )
            return
        raise _Finished(RunResult(RunReason.WATCHPOINT, 0, address=address))


def _native_allowed(machine: Machine) -> bool:
    """Return whether the native run loop may take exception entries and returns.

    Breakpoints, watchpoints and single steps always use the Python model,
    and so does an enabled MPU, whose stacking checks only the Python entry
    and return make.
    """
    return machine._native_exceptions and not machine.debug.hooked and not machine.mpu.enabled


def _publish_for_native(machine: Machine) -> None:
    """Publish the exception priorities the native loop needs, unless they are current."""
    core = machine._core
    if core.resync or not core.native:
        machine._publish_priorities()
        core.native = 1


def _take_pending(machine: Machine) -> bool:
    """Enter the best pending exception if it preempts, and return whether one was taken.

    The native entry covers the common cases. It declines, changing nothing,
    for every other case (stale stack limits, a stack limit violation, a
    frame outside SRAM, a bad vector), and the Python model takes those.
    """
    core = machine._core
    if machine.nvic.changed:
        machine.exceptions_changed()
    if _native_allowed(machine):
        _publish_for_native(machine)
        taken = machine._native_loop.take_pending()
        if not taken and not core.limits_valid:
            # An MSR to MSPLIM or PSPLIM ran since the last entry.
            machine.stack_limits.read()
            taken = machine._native_loop.take_pending()
        if core.nvic_changed:
            machine._sync_native()
        if taken:
            return True
    return machine.exception_unit.take_pending()


def _check_sleep(machine: Machine, flags: int, count: int) -> None:
    """Detect WFI: Unicorn ends the run with no stop flag and PC after the WFI."""
    if machine.debug.hit is not None:
        return
    if flags or count or machine._stop_requested or machine._reset_requested:
        return
    if _previous_halfword(machine) == _WFI:
        machine._sleeping = True
        log.debug("Sleep in WFI (pc=%#010x, cycles=%d)", machine.pc, machine.cycles)


_MEMORY_STATUSES = {
    ucc.UC_ERR_READ_UNMAPPED,
    ucc.UC_ERR_WRITE_UNMAPPED,
    ucc.UC_ERR_FETCH_UNMAPPED,
    ucc.UC_ERR_READ_PROT,
    ucc.UC_ERR_WRITE_PROT,
    ucc.UC_ERR_FETCH_PROT,
}
_EXCP_PREFETCH_ABORT = 3  # QEMU exception number of an instruction fetch abort
_EXC_RETURN_MIN = 0xFF00_0000  # branch targets from here up return from an exception
_WFI = 0xBF30
_WFE = 0xBF20
_YIELD = 0xBF10
_ACCESS = {
    ucc.UC_MEM_READ_UNMAPPED: "read",
    ucc.UC_MEM_READ_PROT: "read",
    ucc.UC_MEM_WRITE_UNMAPPED: "write",
    ucc.UC_MEM_WRITE_PROT: "write",
    ucc.UC_MEM_FETCH_UNMAPPED: "fetch",
    ucc.UC_MEM_FETCH_PROT: "fetch",
}


def _halfword(machine: Machine, address: int) -> int | None:
    try:
        return int.from_bytes(machine.mem_read(address, 2), "little")
    except MemoryAccessError:
        return None


def _previous_halfword(machine: Machine) -> int | None:
    return _halfword(machine, machine.pc - 2)


def _rewind_partial_block(machine: Machine, address: int) -> None:
    """Subtract the instructions of a block that a breakpoint cut short.

    Unicorn writes a block's IT state back only at block ends, so a stop
    inside an IT block also loses it. Decoding the block from its start
    recovers the IT state.
    """
    core = machine._core
    block = int(core.block_address)
    if not block <= address < block + 0x1000:
        return
    try:
        code = machine.mem_read(block, address - block)
    except MemoryAccessError:
        return
    executed = _native.count_thumb(code)
    # The block used `block_credit` of the credit and added the rest of its
    # count (see ``credit`` in _native.h). Only the instructions that ran
    # stay counted, and they use the credit first.
    counted = int(core.block_count)
    used = int(core.block_credit)
    available = int(core.credit) + used
    covered = min(available, executed)
    core.count += (executed - covered) - (counted - used)
    core.credit = available - covered
    core.block_credit = covered
    core.block_count = executed
    itstate = _it_state_after(code, _read_it_state(machine) if block == address else 0)
    _write_it_state(machine, itstate)


def _instruction_size(code: bytes) -> int:
    if len(code) < 2:
        return 0
    return 4 if ((code[0] | (code[1] << 8)) >> 11) >= 0x1D else 2


def _it_advance(itstate: int) -> int:
    """ITAdvance() from the Armv8-M pseudocode."""
    if itstate & 0x7 == 0:
        return 0
    return (itstate & 0xE0) | ((itstate << 1) & 0x1F)


def _it_state_after(code: bytes, itstate: int) -> int:
    """Return the IT state after executing the Thumb instructions in `code`."""
    offset = 0
    while offset + 1 < len(code):
        half = code[offset] | (code[offset + 1] << 8)
        wide = (half >> 11) >= 0x1D
        if itstate == 0 and half & 0xFF00 == 0xBF00 and half & 0x000F:
            itstate = half & 0xFF  # IT: firstcond and mask
        elif itstate:
            itstate = _it_advance(itstate)
        offset += 4 if wide else 2
    return itstate


def _read_it_state(machine: Machine) -> int:
    xpsr = machine.registers.read(arm.UC_ARM_REG_XPSR)
    return ((xpsr >> 25) & 0x3) | (((xpsr >> 10) & 0x3F) << 2)


def _write_it_state(machine: Machine, itstate: int) -> None:
    xpsr = machine.registers.read(arm.UC_ARM_REG_XPSR)
    xpsr &= ~((0x3 << 25) | (0x3F << 10))
    xpsr |= ((itstate & 0x3) << 25) | (((itstate >> 2) & 0x3F) << 10)
    machine.registers.write(arm.UC_ARM_REG_XPSR_NZCVQG, xpsr)


def _memory_fault(machine: Machine, status: int) -> RunResult:
    core = machine._core
    # Unicorn leaves a TLB entry behind for an access it refused: without a
    # flush, the same read of the execute-only gateway succeeds after a restart.
    _native.flush_tlb(machine._handle)
    address = int(core.mem_address) & 0xFFFFFFFF
    access = _ACCESS.get(int(core.mem_type))
    if access is None:
        access = {
            ucc.UC_ERR_READ_UNMAPPED: "read",
            ucc.UC_ERR_READ_PROT: "read",
            ucc.UC_ERR_WRITE_UNMAPPED: "write",
            ucc.UC_ERR_WRITE_PROT: "write",
        }.get(status, "fetch")
    region = mm.describe_address(address)
    if access == "write" and region == "application flash":
        kind = FaultKind.FLASH_WRITE
    elif region == "call gateway" and access != "fetch":
        kind = FaultKind.GATEWAY_READ
    else:
        kind = FaultKind.MEMORY
    description = f"{access} of {region} at {address:#010x}"
    pc = address if access == "fetch" else None
    record = machine.fault_record(kind, description, address=address, access=access, pc=pc)
    log.info(
        "Fault in application (kind=%s, pc=%#010x, address=%#010x)", kind.value, record.pc, address
    )
    return RunResult(RunReason.CRASH, 0, record)


def _handle_interrupt(machine: Machine, intno: int, pc: int) -> None:
    unit = machine.exception_unit
    if intno == EXCP_SWI:
        svc_address = pc - 2
        if mm.GATEWAY_BASE <= svc_address < mm.GATEWAY_BASE + mm.GATEWAY_PAGE_SIZE:
            _gateway_call(machine, svc_address)
        else:
            unit.supervisor_call(pc)
        return
    if intno == EXCP_EXCEPTION_EXIT:
        # Unicorn moved bit 0 of the branch target (EXC_RETURN.ES) into EPSR.T.
        thumb = machine.registers.read(arm.UC_ARM_REG_XPSR) & XPSR_T
        unit.exception_return(pc | (1 if thumb else 0))
        if machine.scs.scr & SCR_SLEEPONEXIT and machine.current_exception() == 0:
            machine._sleeping = True
        return
    if intno == EXCP_BKPT:
        if machine.debug.halt_on_bkpt:
            raise _Finished(RunResult(RunReason.BREAKPOINT, 0, address=pc))
        unit.hfsr |= 1 << 31  # HFSR.DEBUGEVT
        unit.usage_fault(0, pc, "BKPT without a debugger")
        return
    if intno == _EXCP_PREFETCH_ABORT:
        # Unicorn's own memory map marks some mapped or unmapped ranges as
        # never executable (address 0, peripherals, the system space): a
        # fetch there arrives as a prefetch abort instead of a fetch error.
        region = mm.describe_address(pc)
        record = machine.fault_record(
            FaultKind.MEMORY, f"fetch of {region} at {pc:#010x}", address=pc, access="fetch"
        )
        log.info("Fault in application (kind=memory, pc=%#010x, address=%#010x)", pc, pc)
        raise _Finished(RunResult(RunReason.CRASH, 0, record))
    usage = _USAGE_FAULTS.get(intno)
    if usage is not None:
        status_bit, description = usage
        unit.usage_fault(status_bit, pc, description)
        return
    record = machine.fault_record(
        FaultKind.INVALID_STATE, f"unsupported CPU exception {intno} at {pc:#010x}"
    )
    raise _Finished(RunResult(RunReason.CRASH, 0, record))


def _handle_invalid_instruction(machine: Machine) -> None:
    """Unicorn reports WFE and YIELD as invalid instructions, with PC past them.

    A branch to an address with bit 0 clear (BX/BLX to ARM state) also ends
    the run as an invalid instruction, with EPSR.T clear and PC at the target:
    that is an INVSTATE UsageFault on the Cortex-M33.
    """
    if not machine.registers.read(arm.UC_ARM_REG_XPSR) & XPSR_T:
        machine.exception_unit.usage_fault(UFSR_INVSTATE, machine.pc, "execution with EPSR.T clear")
        return
    half = _previous_halfword(machine)
    if half == _WFE:
        # With the event register set, WFE clears it and completes. Otherwise
        # the core sleeps like WFI until an interrupt or an event wakes it.
        nvic = machine.nvic
        if machine.traps.event_registered():
            nvic.event = False
        elif not machine.exception_unit.wake_pending():
            machine._sleeping = True
            nvic.waiting_for_event = True
        return
    if half == _YIELD:
        return
    machine.exception_unit.usage_fault(UFSR_UNDEFINSTR, machine.pc, "invalid instruction")


def _gateway_call(machine: Machine, address: int) -> None:
    if address not in mm.GATEWAY_CALLS or machine.gateway_handler is None:
        reason = "holds no call" if address not in mm.GATEWAY_CALLS else "has no handler installed"
        record = machine.fault_record(
            FaultKind.GATEWAY_CALL,
            f"call to gateway address {address:#010x}, which {reason}",
            address=address,
            access="fetch",
            pc=address,
        )
        raise _Finished(RunResult(RunReason.CRASH, 0, record))
    # The fixed cost goes in before the handler runs, in the one place every
    # served call passes, so both ways of returning below (exception return and
    # ov_finish_call) charge it once, whatever the slice boundaries.
    machine._core.count += machine.gateway_call_cycles
    status = machine.gateway_handler(machine, address)
    lr = machine.registers.read(arm.UC_ARM_REG_LR)
    if lr >= _EXC_RETURN_MIN and machine.current_exception():
        # A handler that ends by tail-calling the microvisor leaves EXC_RETURN
        # in LR: the call's return is the exception return, as on silicon.
        machine.registers.write(arm.UC_ARM_REG_R0, int(status) & 0xFFFFFFFF)
        machine.exception_unit.exception_return(lr)
        return
    machine._native_loop.finish_call(int(status))
