"""FPU access rules (CPACR), host register writes and lazy FP stacking on assembled programs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from openvisor.gdb.machine_target import MachineTarget
from openvisor.machine import Machine, RunReason

CFSR_NOCP = 1 << 19
XPSR_Z = 1 << 30

# Vector table: initial SP, reset, exceptions 2-15 (UsageFault at 6), IRQ0.
VECTORS = """
.section .text
.word 0x20010000
.word reset + 1
.rept 4
.word spin + 1
.endr
.word usage + 1
.rept 9
.word spin + 1
.endr
.word irq0 + 1
.thumb_func
spin:
    b spin
"""

FP_PROGRAM = (
    ".fpu fpv5-sp-d16\n"
    + VECTORS
    + """
.thumb_func
reset:
    ldr r0, =0xE000ED24     @ SHCSR: enable UsageFault
    ldr r1, =0x00040000
    str r1, [r0]
    ldr r0, =0xE000ED88     @ CPACR
    ldr r1, ={cpacr}
    str r1, [r0]
    dsb
    isb
    movs r1, #{control}
    msr control, r1
    isb
    adr r7, fp_instruction
    movs r6, #0
    .balign 4
fp_instruction:
    vmov s0, r6
    movs r6, #1
    b .
.thumb_func
usage:
    ldr r0, =0xE000ED28     @ CFSR
    ldr r4, [r0]
    ldr r5, [sp, #24]       @ stacked return address
    movs r6, #2
    b .
.thumb_func
irq0:
    b .
.ltorg
"""
)


@pytest.mark.parametrize(
    ("cpacr", "control", "faults"),
    [
        (0x0000_0000, 0, True),
        (0x0000_0000, 1, True),
        (0x0050_0000, 0, False),
        (0x0050_0000, 1, True),
        (0x00F0_0000, 1, False),
    ],
    ids=["denied", "denied-unprivileged", "privileged", "privileged-only", "full"],
)
def test_cpacr_denied_fp_raises_nocp(
    assemble: Callable[[str], bytes], cpacr: int, control: int, faults: bool
) -> None:
    machine = Machine()
    machine.load_image(assemble(FP_PROGRAM.format(cpacr=f"{cpacr:#x}", control=control)))
    machine.reset()
    result = machine.run(max_cycles=1_000)
    assert result.reason is RunReason.BUDGET
    if faults:
        assert machine.reg_read("r6") == 2  # the UsageFault handler ran
        assert machine.reg_read("r4") & CFSR_NOCP
        assert machine.reg_read("r5") == machine.reg_read("r7")  # stacked PC: the FP instruction
    else:
        assert machine.reg_read("r6") == 1
        assert machine.reg_read("r4") == 0


def test_cpacr_reset_value_denies_fpu(assemble: Callable[[str], bytes]) -> None:
    machine = Machine()
    machine.load_image(assemble(FP_PROGRAM.format(cpacr="0x00F00000", control=0)))
    machine.reset()
    assert machine.bus_read(0xE000_ED88) == 0
    assert machine.coprocessor.armed
    machine.run(max_cycles=1_000)
    assert machine.bus_read(0xE000_ED88) == 0x00F0_0000
    assert not machine.coprocessor.armed


UNPRIVILEGED_PROGRAM = (
    VECTORS
    + """
.thumb_func
reset:
    movs r0, #1
    msr control, r0          @ unprivileged Thread mode
    isb
    nop                      @ the host writes registers here
    mrs r2, basepri
    mrs r3, primask
    movs r1, #0x40
    msr basepri, r1
    mrs r4, basepri
    b .
.thumb_func
usage:
    b .
.thumb_func
irq0:
    b .
"""
)


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
def test_host_writes_masks_while_unprivileged(
    assemble: Callable[[str], bytes], native: bool
) -> None:
    machine = Machine()
    machine._native_exceptions = native
    machine.load_image(assemble(UNPRIVILEGED_PROGRAM))
    machine.reset()
    for _ in range(3):
        machine.step()
    assert machine.reg_read("control") == 1
    machine.reg_write("basepri", 0x20)
    assert machine.reg_read("basepri") == 0x20
    machine.reg_write("primask", 1)
    assert machine.reg_read("primask") == 1
    machine.reg_write("faultmask", 1)
    assert machine.reg_read("faultmask") == 1
    machine.reg_write("faultmask", 0)
    assert machine.reg_read("faultmask") == 0
    machine.reg_write("control", 0)
    assert machine.reg_read("control") == 0
    machine.run(max_cycles=20)
    assert machine.reg_read("r2") == 0x20  # privileged MRS reads the host's BASEPRI
    assert machine.reg_read("r3") == 1
    assert machine.reg_read("r4") == 0x40  # and the app's own MSR now takes effect


def test_host_control_write_keeps_stack_pointers(assemble: Callable[[str], bytes]) -> None:
    machine = Machine()
    machine.load_image(assemble(UNPRIVILEGED_PROGRAM))
    machine.reset()
    machine.reg_write("psp", 0x2000_4000)
    machine.reg_write("control", 2)  # SPSEL: Thread mode on PSP
    assert machine.reg_read("control") == 2
    assert machine.reg_read("sp") == 0x2000_4000
    assert machine.reg_read("msp") == 0x2001_0000
    machine.reg_write("control", 0)
    assert machine.reg_read("sp") == 0x2001_0000
    assert machine.reg_read("psp") == 0x2000_4000


# Raw image: SP, reset, then 16-bit instructions from 0x08000008.
FLAGS_PROGRAM = """
.section .text
.word 0x20010000
.word reset + 1
.thumb_func
reset:
    movs r5, #0              @ 0x08000008
loop:
    movs r0, #1              @ 0x0800000A: clears Z
    movs r6, #5              @ 0x0800000C: the host writes xPSR here
    adds r5, r5, #1          @ 0x0800000E
    beq taken                @ 0x08000010
    b loop                   @ 0x08000012
taken:
    movs r7, #2
    b .
"""
AT_MOVS_R6 = 0x0800_000C
AT_BEQ = 0x0800_0010


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
def test_host_xpsr_it_state_applies(assemble: Callable[[str], bytes], native: bool) -> None:
    machine = Machine()
    machine._native_exceptions = native
    machine.load_image(assemble(FLAGS_PROGRAM))
    machine.reset()
    machine.run(max_cycles=200)  # every block of the loop is translated by now
    machine.add_breakpoint(AT_MOVS_R6)
    assert machine.run(max_cycles=100).reason is RunReason.BREAKPOINT
    machine.remove_breakpoint(AT_MOVS_R6)
    machine.reg_write("r6", 0)
    count = machine.reg_read("r5")
    # ITSTATE 0b0000_1000 is IT EQ over one instruction. Z is clear, so MOV is skipped.
    machine.reg_write("xpsr", machine.reg_read("xpsr") | (0b10 << 10))
    machine.run(max_cycles=3)
    assert machine.reg_read("r6") == 0
    assert machine.reg_read("r5") == count + 1
    assert machine.reg_read("xpsr") & ((0x3 << 25) | (0x3F << 10)) == 0


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
def test_host_xpsr_flags_apply(assemble: Callable[[str], bytes], native: bool) -> None:
    machine = Machine()
    machine._native_exceptions = native
    machine.load_image(assemble(FLAGS_PROGRAM))
    machine.reset()
    machine.run(max_cycles=200)
    machine.add_breakpoint(AT_BEQ)
    assert machine.run(max_cycles=100).reason is RunReason.BREAKPOINT
    machine.remove_breakpoint(AT_BEQ)
    assert not machine.reg_read("xpsr") & XPSR_Z
    machine.reg_write("xpsr", machine.reg_read("xpsr") | XPSR_Z)
    machine.run(max_cycles=10)
    assert machine.reg_read("r7") == 2  # BEQ taken on the host's Z flag


LAZY_PROGRAM = """
.fpu fpv5-sp-d16
.section .text
.word 0x20010000
.word reset + 1
.rept 14
.word spin + 1
.endr
.word irq0 + 1
.word irq1 + 1
.thumb_func
spin:
    b spin
.thumb_func
reset:
    ldr r0, =0xE000ED88      @ CPACR: full access to CP10 and CP11
    ldr r1, =0x00F00000
    str r1, [r0]
    dsb
    isb
    ldr r0, =0xE000E400      @ IPR: IRQ0 at 0x80, IRQ1 at 0x00
    movs r1, #0x80
    strb r1, [r0]
    ldr r0, =0xE000E100      @ ISER0: IRQ0 and IRQ1
    movs r1, #3
    str r1, [r0]
    ldr r0, =0x3FC00000
    vmov s0, r0              @ CONTROL.FPCA: IRQ0 gets an extended frame
    ldr r0, =0xE000EF00      @ STIR: pend IRQ0
    movs r1, #0
    str r1, [r0]
    isb
    b .
.thumb_func
irq0:
    ldr r0, =0xE000EF34      @ FPCCR
    ldr r4, [r0]
    ldr r1, =0xE000EF00      @ STIR: pend IRQ1, which preempts
    movs r2, #1
    str r2, [r1]
    isb
    ldr r5, [r0]
    vadd.f32 s1, s0, s0
    ldr r7, [r0]
    bx lr
.thumb_func
irq1:
    {irq1_body}
    ldr r0, =0xE000EF34
    ldr r6, [r0]
    bx lr
.ltorg
"""


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
@pytest.mark.parametrize("nested_fp", [True, False], ids=["nested-fp", "nested-no-fp"])
def test_lspact_cleared_by_fp_use(
    assemble: Callable[[str], bytes], native: bool, nested_fp: bool
) -> None:
    machine = Machine()
    machine._native_exceptions = native
    body = "vadd.f32 s2, s0, s0" if nested_fp else "nop"
    machine.load_image(assemble(LAZY_PROGRAM.format(irq1_body=body)))
    machine.reset()
    machine.run(max_cycles=1_000)
    assert machine.reg_read("r4") & 1 == 1  # LSPACT at entry with an extended frame
    # An FP instruction in the preempting handler performs the lazy preservation.
    assert machine.reg_read("r6") & 1 == (0 if nested_fp else 1)
    assert machine.reg_read("r5") & 1 == (0 if nested_fp else 1)
    assert machine.reg_read("r7") & 1 == 0  # after the handler's own first FP instruction
    assert machine.bus_read(0xE000_EF34) & 1 == 0  # back in Thread mode


def test_debug_target_writes_basepri_unprivileged(assemble: Callable[[str], bytes]) -> None:
    machine = Machine()
    machine.load_image(assemble(UNPRIVILEGED_PROGRAM))
    machine.reset()
    for _ in range(3):
        machine.step()
    target = MachineTarget(lambda: machine, drive=False)
    assert target.read_register("control") == 1
    target.write_register("basepri", 0x20)  # GDB: set $basepri = 0x20
    assert target.read_register("basepri") == 0x20
    target.write_register("control", 0)  # GDB: set $control = 0
    assert target.read_register("control") == 0


def test_step_onto_denied_fp_instruction(assemble: Callable[[str], bytes]) -> None:
    machine = Machine()
    machine.load_image(assemble(FP_PROGRAM.format(cpacr="0x0", control=0)))
    machine.reset()
    machine.run(max_cycles=200)  # stops in the UsageFault handler's loop
    fp_address = machine.reg_read("r7")
    machine.reset()
    machine.add_breakpoint(fp_address)
    assert machine.run(max_cycles=200).reason is RunReason.BREAKPOINT
    machine.remove_breakpoint(fp_address)
    cycles = machine.cycles
    machine.step()
    assert machine.current_exception() == 6  # UsageFault entered instead of the FP instruction
    assert machine.cycles - cycles == 1
    machine.run(max_cycles=50)
    assert machine.reg_read("r6") == 2
    assert machine.reg_read("r5") == fp_address


def test_resume_at_breakpoint_on_denied_fp(assemble: Callable[[str], bytes]) -> None:
    machine = Machine()
    machine.load_image(assemble(FP_PROGRAM.format(cpacr="0x0", control=0)))
    machine.reset()
    machine.run(max_cycles=200)
    fp_address = machine.reg_read("r7")
    machine.reset()
    machine.add_breakpoint(fp_address)
    assert machine.run(max_cycles=200).reason is RunReason.BREAKPOINT
    assert machine.pc == fp_address
    machine.run(max_cycles=50)  # resumes at the breakpoint, which stays set
    assert machine.reg_read("r6") == 2
    assert machine.reg_read("r4") & CFSR_NOCP
    assert machine.reg_read("r5") == fp_address
