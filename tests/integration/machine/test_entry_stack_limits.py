"""Exception entry checks MSPLIM and PSPLIM while stacking (Armv8-M PushStack).

Each image sets a stack limit with MSR, leaves too little room above the
stack pointer for a frame and pends PendSV. The handler that runs stores
IPSR, CFSR, HFSR, MSP, PSP, LR and SHCSR and sleeps, so the test can read
the state the entry left.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from openvisor.machine import Machine, RunReason
from openvisor.machine import nvic as nv
from openvisor.machine.exceptions import HFSR_FORCED, UFSR_STKOF
from openvisor.machine.stacklimits import find_limit_writes

RESULTS = 0x2000_0000
SENTINEL = 0xA5A5_A5A5
PSP_LIMIT = 0x2000_1080
MSP_LIMIT = 0x2007_FFF8
SHCSR_USGFAULTENA = 1 << 18
SHCSR_USGFAULTPENDED = 1 << 12

# SCENARIO 0: Thread mode on PSP, UsageFault enabled at priority 0: the
#   derived UsageFault wins over PendSV (0xF0), which stays pending.
# SCENARIO 1: Thread mode on MSP, UsageFault disabled: HardFault is derived.
# SCENARIO 2: Thread mode on PSP, UsageFault enabled at 0xF0 below PendSV
#   at 0x80: PendSV is entered and the UsageFault stays pending.
# SCENARIO 3: as 0 with the limit exactly at the frame: no violation.
PROGRAM = """
vectors:
    .word 0x20080000
    .word reset + 1
    .word record + 1
    .word record + 1
    .word record + 1
    .word record + 1
    .word record + 1
    .rept 7
    .word spin + 1
    .endr
    .word record + 1
    .word spin + 1
.thumb_func
reset:
    ldr r0, =0x20001000
    ldr r1, =0xA5A5A5A5
    movs r2, #64
1:  str r1, [r0], #4
    subs r2, r2, #1
    bne 1b
    ldr r0, =0x2007FF00
    movs r2, #64
2:  str r1, [r0], #4
    subs r2, r2, #1
    bne 2b
.if SCENARIO == 1
    ldr r1, =0xE000ED20
    ldr r2, =0x00F00000
    str r2, [r1]
    ldr r1, =0x2007FFF8
    msr msplim, r1
.else
    ldr r1, =0xE000ED24
    ldr r2, =0x00040000
    str r2, [r1]
.if SCENARIO == 2
    ldr r1, =0xE000ED18
    ldr r2, =0x00F00000
    str r2, [r1]
    ldr r1, =0xE000ED20
    ldr r2, =0x00800000
    str r2, [r1]
.else
    ldr r1, =0xE000ED20
    ldr r2, =0x00F00000
    str r2, [r1]
.endif
    ldr r1, =0x20001080
    msr psplim, r1
.if SCENARIO == 3
    ldr r1, =0x200010A0
.else
    ldr r1, =0x20001088
.endif
    msr psp, r1
    movs r1, #2
    msr control, r1
    isb
.endif
    movs r0, #0x11
    movs r3, #0x33
    ldr r1, =0xE000ED04
    ldr r2, =0x10000000
    str r2, [r1]
    isb
    nop
spin:
    b spin
.thumb_func
record:
    ldr r0, =0x20000000
    mrs r1, ipsr
    str r1, [r0]
    ldr r2, =0xE000ED28
    ldr r1, [r2]
    str r1, [r0, #4]
    ldr r1, [r2, #4]
    str r1, [r0, #8]
    mrs r1, msp
    str r1, [r0, #12]
    mrs r1, psp
    str r1, [r0, #16]
    str lr, [r0, #20]
    ldr r2, =0xE000ED24
    ldr r1, [r2]
    str r1, [r0, #24]
    ldr r1, [r0, #28]
    adds r1, r1, #1
    str r1, [r0, #28]
3:  wfi
    b 3b
.ltorg
"""


def _run(assemble: Callable[[str], bytes], scenario: int, *, native: bool) -> Machine:
    machine = Machine()
    machine._native_exceptions = native
    machine.load_image(assemble(f".equ SCENARIO, {scenario}\n" + PROGRAM))
    machine.reset()
    result = machine.run(max_cycles=50_000)
    assert result.reason is RunReason.SLEEP, result.fault
    return machine


def _record(machine: Machine) -> dict[str, int]:
    names = ("ipsr", "cfsr", "hfsr", "msp", "psp", "lr", "shcsr", "entries")
    return dict(zip(names, struct.unpack("<8I", machine.mem_read(RESULTS, 32)), strict=True))


def _words(machine: Machine, address: int, count: int) -> list[int]:
    return list(struct.unpack(f"<{count}I", machine.mem_read(address, 4 * count)))


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
def test_psplim_violation_takes_usage_fault(assemble: Callable[[str], bytes], native: bool) -> None:
    machine = _run(assemble, 0, native=native)
    record = _record(machine)
    assert record["ipsr"] == nv.USAGEFAULT
    assert record["entries"] == 1
    assert record["cfsr"] == UFSR_STKOF
    assert record["psp"] == PSP_LIMIT, "SP becomes the limit"
    assert record["lr"] == 0xFFFF_FFBC, "EXC_RETURN names Thread mode on PSP"
    assert machine.nvic.active == {nv.USAGEFAULT}
    assert machine.nvic.pending == {nv.PENDSV}, "PendSV stays pending"
    # The frame would start at 0x20001068: only return address and xPSR
    # lie at or above the limit, nothing below it is written.
    assert _words(machine, PSP_LIMIT - 0x20, 8) == [SENTINEL] * 8
    return_address, xpsr = _words(machine, PSP_LIMIT, 2)
    assert 0x0800_0000 <= return_address < 0x0800_1000
    assert xpsr & (1 << 24)


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
def test_msplim_violation_escalates_to_hard_fault(
    assemble: Callable[[str], bytes], native: bool
) -> None:
    machine = _run(assemble, 1, native=native)
    record = _record(machine)
    assert record["ipsr"] == nv.HARDFAULT
    assert record["cfsr"] == UFSR_STKOF
    assert record["hfsr"] == HFSR_FORCED
    assert record["msp"] == MSP_LIMIT
    assert record["lr"] == 0xFFFF_FFB8, "EXC_RETURN names Thread mode on MSP"
    assert machine.nvic.active == {nv.HARDFAULT}
    assert machine.nvic.pending == {nv.PENDSV}
    assert _words(machine, MSP_LIMIT - 0x18, 6) == [SENTINEL] * 6
    _, xpsr = _words(machine, MSP_LIMIT, 2)
    assert xpsr & (1 << 24)


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
def test_psplim_violation_pends_lower_usage_fault(
    assemble: Callable[[str], bytes], native: bool
) -> None:
    machine = _run(assemble, 2, native=native)
    record = _record(machine)
    assert record["ipsr"] == nv.PENDSV, "the original exception wins on priority"
    assert record["cfsr"] == UFSR_STKOF
    assert record["psp"] == PSP_LIMIT
    assert record["shcsr"] & SHCSR_USGFAULTPENDED
    assert machine.nvic.pending == {nv.USAGEFAULT}
    assert machine.nvic.active == {nv.PENDSV}


def test_frame_at_limit_is_no_violation(assemble: Callable[[str], bytes]) -> None:
    machine = _run(assemble, 3, native=True)
    record = _record(machine)
    assert record["ipsr"] == nv.PENDSV
    assert record["cfsr"] == 0
    assert record["psp"] == PSP_LIMIT
    words = _words(machine, PSP_LIMIT, 8)
    assert words[:4] == [0x11, 0xE000_ED04, 0x1000_0000, 0x33], "R0-R3 stacked at the limit"
    assert machine._core.native_entries == 1, "the native loop took the entry"


@pytest.mark.parametrize("scenario", [0, 1, 2, 3])
def test_stack_limit_entry_native_matches_python(
    assemble: Callable[[str], bytes], scenario: int
) -> None:
    native = _run(assemble, scenario, native=True)
    python = _run(assemble, scenario, native=False)
    registers = ["r0", "r1", "r2", "r3", "sp", "lr", "pc", "xpsr", "msp", "psp", "control"]
    assert {name: native.reg_read(name) for name in registers} == {
        name: python.reg_read(name) for name in registers
    }
    assert native.mem_read(0x2000_0000, 0x2000) == python.mem_read(0x2000_0000, 0x2000)
    assert native.mem_read(0x2007_FF00, 0x100) == python.mem_read(0x2007_FF00, 0x100)
    assert native.cycles == python.cycles


def test_stack_limits_read_and_cleared_on_reset(assemble: Callable[[str], bytes]) -> None:
    machine = _run(assemble, 0, native=True)
    assert machine.stack_limits.read() == (0, PSP_LIMIT)
    machine.reset()
    assert machine.stack_limits.read() == (0, 0)
    machine = _run(assemble, 1, native=True)
    assert machine.stack_limits.read() == (MSP_LIMIT, 0)


def test_limit_writes_found_in_flash() -> None:
    # MSR MSPLIM, R0; a NOP; MSR PSPLIM, R1; MSR PSPLIM_NS, R2; MSR PRIMASK, R0.
    code = struct.pack(
        "<11H",
        0xF380,
        0x880A,
        0xBF00,
        0xF381,
        0x880B,
        0xF382,
        0x888B,
        0xF380,
        0x8810,
        0xBF00,
        0xBF00,
    )
    assert find_limit_writes(code, 0x0800_0000) == [0x0800_0000, 0x0800_0006, 0x0800_000A]
    assert find_limit_writes(b"\x00" + code, 0x0800_0000) == []
