"""The native run loop takes SVCall entries and returns exactly as the Python model does."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from openvisor.machine import Machine, RunReason

RESULTS = 0x2000_0000

# Six phases, each recording what the handlers saw in RESULTS:
# privileged Thread mode on MSP, on a PSP that is not 8-byte aligned,
# unprivileged on PSP (SVC #2 restores privilege), with PRIMASK set,
# with SVCall lowered to priority 0x80 through SHPR2 under BASEPRI 0x40,
# and last a PendSV at priority 0xF0 with no SVC. Phases 4 and 5 escalate
# to HardFault.
SVC_PROGRAM = """
.syntax unified
.thumb
.cpu cortex-m33
.section .text
vectors:
    .word 0x20080000
    .word reset + 1
    .word spin + 1
    .word hardfault + 1
    .rept 7
    .word spin + 1
    .endr
    .word svc_handler + 1
    .word spin + 1
    .word spin + 1
    .word pendsv_handler + 1
    .word spin + 1
.thumb_func
reset:
    ldr r7, =0x20000000
    movs r0, #0
    movs r4, #20
1:  svc #0
    subs r4, r4, #1
    bne 1b
    str r0, [r7, #16]
    ldr r1, =0x20004004
    msr psp, r1
    movs r1, #2
    msr control, r1
    isb
    movs r4, #10
2:  svc #1
    subs r4, r4, #1
    bne 2b
    str r0, [r7, #20]
    movs r1, #3
    msr control, r1
    isb
    movs r4, #5
3:  svc #3
    subs r4, r4, #1
    bne 3b
    svc #2
    str r0, [r7, #24]
    mrs r1, control
    str r1, [r7, #28]
    cpsid i
    svc #0
    cpsie i
    str r0, [r7, #32]
    ldr r1, =0xE000ED1C
    ldr r2, =0x80000000
    str r2, [r1]
    movs r1, #0x40
    msr basepri, r1
    svc #0
    movs r1, #0
    msr basepri, r1
    str r0, [r7, #36]
    ldr r1, =0xE000ED1C
    movs r2, #0
    str r2, [r1]
    ldr r1, =0xE000ED20
    ldr r2, =0x00F00000
    str r2, [r1]
    ldr r1, =0xE000ED04
    ldr r2, =0x10000000
    str r2, [r1]
    isb
    str r0, [r7, #44]
done:
    wfi
    b done
.thumb_func
svc_handler:
    ldr r2, =0x20000000
    ldr r3, [r2]
    adds r3, r3, #1
    str r3, [r2]
    ldr r3, =0xE000ED24
    ldr r3, [r3]
    str r3, [r2, #8]
    tst lr, #4
    ite eq
    mrseq r1, msp
    mrsne r1, psp
    ldr r3, [r1]
    adds r3, r3, #1
    str r3, [r1]
    ldr r3, [r1, #24]
    ldrb r3, [r3, #-2]
    cmp r3, #2
    bne 4f
    mrs r3, control
    bic r3, r3, #1
    msr control, r3
4:  bx lr
.thumb_func
pendsv_handler:
    ldr r2, =0x20000000
    ldr r3, [r2, #40]
    adds r3, r3, #1
    str r3, [r2, #40]
    bx lr
.thumb_func
hardfault:
    ldr r2, =0x20000000
    ldr r3, [r2, #4]
    adds r3, r3, #1
    str r3, [r2, #4]
    ldr r3, =0xE000ED2C
    ldr r3, [r3]
    str r3, [r2, #12]
    bx lr
.thumb_func
spin:
    b spin
.ltorg
"""

SVC_COUNT = 20 + 10 + 5 + 1
STATE_REGISTERS = [f"r{i}" for i in range(13)] + ["sp", "lr", "pc", "xpsr", "msp", "psp"]
STATE_REGISTERS += ["control", "primask", "faultmask"]


def _link_elf(workdir: Path, source: str) -> Path:
    """Assemble and link ``source`` at 0x0800_0000 in ``workdir``, skipping without binutils."""
    if shutil.which("arm-none-eabi-as") is None:
        pytest.skip("arm-none-eabi-as is not installed (Debian: apt-get install gcc-arm-none-eabi)")
    (workdir / "program.S").write_text(source)
    subprocess.run(["arm-none-eabi-as", "-o", "program.o", "program.S"], cwd=workdir, check=True)
    subprocess.run(
        ["arm-none-eabi-ld", "-Ttext=0x08000000", "-e", "0x08000000"]
        + ["-o", "program.elf", "program.o"],
        cwd=workdir,
        check=True,
    )
    return workdir / "program.elf"


@pytest.fixture(scope="module")
def svc_elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _link_elf(tmp_path_factory.mktemp("svc"), SVC_PROGRAM)


def _boot(elf: Path, *, native: bool) -> Machine:
    machine = Machine()
    machine._native_exceptions = native
    machine.load_elf(elf)
    machine.reset()
    return machine


def _state(machine: Machine) -> dict[str, object]:
    return {
        "cycles": machine.cycles,
        "registers": {name: machine.reg_read(name) for name in STATE_REGISTERS},
        "sram": machine.mem_read(RESULTS, 0x4100),
        "main_stack": machine.mem_read(0x2008_0000 - 0x100, 0x100),
        "active": sorted(machine.nvic.active),
        "hfsr": machine.exception_unit.hfsr,
    }


def test_native_svc_results(svc_elf: Path) -> None:
    machine = _boot(svc_elf, native=True)
    result = machine.run(max_cycles=100_000)
    assert result.reason is RunReason.SLEEP
    svcs, hardfaults, shcsr, hfsr, a, b, c, control, d, e, pendsvs, f = struct.unpack(
        "<12I", machine.mem_read(RESULTS, 48)
    )
    assert svcs == SVC_COUNT
    assert hardfaults == 2
    assert pendsvs == 1
    assert shcsr & (1 << 7), "SHCSR.SVCALLACT must read as set inside the SVC handler"
    assert hfsr & (1 << 30), "SVC with PRIMASK set must escalate to a forced HardFault"
    assert (a, b, c, d, e, f) == (20, 30, 36, 36, 36, 36)
    assert control == 2, "SVC #2 restores privilege and keeps the PSP selected"
    assert machine.nvic.active == set()
    # The native loop entered every SVC but the two escalated ones, and the
    # PendSV. It also took the returns from all of them and the two HardFaults.
    assert machine._core.native_entries == SVC_COUNT + 1
    assert machine._core.native_returns == SVC_COUNT + 3


def test_native_svc_matches_python_model(svc_elf: Path) -> None:
    native = _boot(svc_elf, native=True)
    python = _boot(svc_elf, native=False)
    assert native.run(max_cycles=100_000).reason is RunReason.SLEEP
    assert python.run(max_cycles=100_000).reason is RunReason.SLEEP
    assert python._core.native_entries == 0
    assert _state(native) == _state(python)


def test_native_svc_time_is_slice_independent(svc_elf: Path) -> None:
    whole = _boot(svc_elf, native=True)
    whole.run(max_cycles=100_000)
    sliced = _boot(svc_elf, native=True)
    end = sliced.cycles + 100_000
    slices = 0
    while sliced.cycles < end:
        result = sliced.run(max_cycles=min(7, end - sliced.cycles))
        assert result.reason is not RunReason.CRASH, result.fault
        slices += 1
    assert slices > 100
    assert sliced.cycles == whole.cycles
    assert _state(sliced) == _state(whole)


def test_native_svc_stops_at_scheduled_event(svc_elf: Path) -> None:
    machine = _boot(svc_elf, native=True)
    seen: list[tuple[int, int]] = []
    at_cycle = machine.cycles + 50
    machine.schedule(at_cycle, lambda: seen.append((machine.cycles, machine.reg_read("r4"))))
    reference = _boot(svc_elf, native=False)
    expected: list[tuple[int, int]] = []
    reference.schedule(
        at_cycle, lambda: expected.append((reference.cycles, reference.reg_read("r4")))
    )
    machine.run(max_cycles=100_000)
    reference.run(max_cycles=100_000)
    assert seen == expected
    assert seen and seen[0][0] >= at_cycle


# Unprivileged Thread mode on PSP asks for PendSV through SVC #1; PendSV
# runs at the lowest priority (0xFF, below SVCall at 0), so it is taken on
# the way back to Thread mode, and its handler makes a second SVC. That
# frame belongs on MSP below PendSV's own stack, never in the PSP area.
# The SVC handler records the EXC_RETURN it got and MSP after stacking.
PENDSV_SVC_PROGRAM = """
.syntax unified
.thumb
.cpu cortex-m33
.section .text
vectors:
    .word 0x20080000
    .word reset + 1
    .rept 9
    .word spin + 1
    .endr
    .word svc_handler + 1
    .word spin + 1
    .word spin + 1
    .word pendsv_handler + 1
    .word spin + 1
.thumb_func
reset:
    ldr r7, =0x20000000
    ldr r1, =0xE000ED20
    ldr r2, =0x00FF0000
    str r2, [r1]
    ldr r1, =0x20004000
    msr psp, r1
    movs r1, #3
    msr control, r1
    isb
    movs r5, #0x55
    svc #1
    str r5, [r7, #16]
    mov r1, sp
    str r1, [r7, #20]
done:
    wfi
    b done
.thumb_func
pendsv_handler:
    ldr r2, =0x20000000
    mov r3, sp
    str r3, [r2, #24]
    svc #7
    ldr r2, =0x20000000
    ldr r3, [r2, #4]
    adds r3, r3, #1
    str r3, [r2, #4]
    bx lr
.thumb_func
svc_handler:
    ldr r2, =0x20000000
    ldr r3, [r2]
    adds r3, r3, #1
    str r3, [r2]
    str lr, [r2, #8]
    mrs r1, msp
    str r1, [r2, #12]
    cmp r3, #1
    bne 1f
    ldr r1, =0xE000ED04
    ldr r3, =0x10000000
    str r3, [r1]
1:  bx lr
.thumb_func
spin:
    b spin
.ltorg
"""


@pytest.fixture(scope="module")
def pendsv_svc_elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _link_elf(tmp_path_factory.mktemp("pendsv_svc"), PENDSV_SVC_PROGRAM)


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
def test_svc_inside_pendsv_over_psp_thread_stacks_on_msp(
    pendsv_svc_elf: Path, native: bool
) -> None:
    machine = _boot(pendsv_svc_elf, native=native)
    result = machine.run(max_cycles=100_000)
    assert result.reason is RunReason.SLEEP, result.fault
    svcs, pendsvs, svc_lr, svc_msp, marker, thread_sp, pendsv_sp = struct.unpack(
        "<7I", machine.mem_read(RESULTS, 28)
    )
    assert (svcs, pendsvs) == (2, 1)
    assert svc_lr == 0xFFFF_FFB0, "SVC from Handler mode returns to Handler mode on MSP"
    assert pendsv_sp == 0x2008_0000, "PendSV runs on MSP, which Thread mode never touched"
    assert svc_msp == pendsv_sp - 0x20, "the SVC frame sits on MSP below PendSV's stack"
    assert marker == 0x55
    assert thread_sp == 0x2000_4000, "Thread mode resumes on its own PSP"
    assert machine.reg_read("control") == 3, "Thread mode stays unprivileged on PSP"
    assert machine.nvic.active == set()


def test_svc_inside_pendsv_native_matches_python_model(pendsv_svc_elf: Path) -> None:
    native = _boot(pendsv_svc_elf, native=True)
    python = _boot(pendsv_svc_elf, native=False)
    native.run(max_cycles=100_000)
    python.run(max_cycles=100_000)
    assert _state(native) == _state(python)


# Interrupt entries from Thread mode on PSP with live FP state (extended
# frames). SysTick runs every 200 cycles and pends PendSV each time
# (tail-chaining). Then NVIC STIR writes meet PRIMASK, BASEPRI and FAULTMASK
# masking. Last, a SysTick pended through ICSR pends a higher-priority IRQ
# from its handler (nesting). Priorities: IRQ1 0x20, IRQ0 0x40, SysTick 0x80, PendSV 0xF0.
# RESULTS words, by index:
#   0  ticks
#   1  FP sum bits
#   2  IRQ0 count
#   3  IRQ0 count under PRIMASK
#   4  IRQ0 count after CPSIE
#   5  IRQ0 count under BASEPRI
#   6  IRQ1 count
#   7  PendSV count
#   8  PendSV EXC_RETURN
#   9  IRQ1 EXC_RETURN
#   10 nesting flag
#   11 IRQ1 count under FAULTMASK
#   12 IRQ1 count seen by SysTick after its STIR write
IRQ_PROGRAM = """
.syntax unified
.thumb
.cpu cortex-m33
.fpu fpv5-sp-d16
.section .text
vectors:
    .word 0x20080000
    .word reset + 1
    .rept 12
    .word spin + 1
    .endr
    .word pendsv + 1
    .word systick + 1
    .word irq0 + 1
    .word irq1 + 1
.thumb_func
reset:
    ldr r1, =0xE000ED88
    ldr r2, [r1]
    orr r2, r2, #0x00F00000
    str r2, [r1]
    dsb
    isb
    ldr r1, =0xE000ED20
    ldr r2, =0x80F00000
    str r2, [r1]
    ldr r1, =0xE000E400
    ldr r2, =0x00002040
    str r2, [r1]
    ldr r1, =0xE000E100
    movs r2, #3
    str r2, [r1]
    ldr r1, =0x20004004
    msr psp, r1
    movs r1, #2
    msr control, r1
    isb
    vmov.f32 s0, #1.0
    vmov.f32 s1, #0.5
    ldr r7, =0x20000000
    ldr r1, =0xE000E014
    movs r2, #199
    str r2, [r1]
    ldr r1, =0xE000E018
    movs r2, #0
    str r2, [r1]
    ldr r1, =0xE000E010
    movs r2, #7
    str r2, [r1]
1:  vadd.f32 s0, s0, s1
    ldr r2, [r7]
    cmp r2, #40
    blt 1b
    ldr r1, =0xE000E010
    movs r2, #0
    str r2, [r1]
    vmov r2, s0
    str r2, [r7, #4]
    ldr r5, =0xE000EF00
    cpsid i
    movs r2, #0
    str r2, [r5]
    nop
    nop
    ldr r2, [r7, #8]
    str r2, [r7, #12]
    cpsie i
    nop
    ldr r2, [r7, #8]
    str r2, [r7, #16]
    movs r1, #0x40
    msr basepri, r1
    movs r2, #0
    str r2, [r5]
    movs r2, #1
    str r2, [r5]
    nop
    ldr r2, [r7, #8]
    str r2, [r7, #20]
    movs r1, #0
    msr basepri, r1
    nop
    cpsid f
    movs r2, #1
    str r2, [r5]
    nop
    ldr r2, [r7, #24]
    str r2, [r7, #44]
    cpsie f
    nop
    movs r2, #1
    str r2, [r7, #40]
    ldr r1, =0xE000ED04
    ldr r2, =0x04000000
    str r2, [r1]
    nop
done:
    wfi
    b done
.thumb_func
systick:
    ldr r0, =0x20000000
    ldr r1, [r0]
    adds r1, r1, #1
    str r1, [r0]
    vadd.f32 s2, s2, s1
    ldr r1, =0xE000ED04
    ldr r2, =0x10000000
    str r2, [r1]
    ldr r1, [r0, #40]
    cbz r1, 1f
    ldr r1, =0xE000EF00
    movs r2, #1
    str r2, [r1]
    dsb
    isb
    ldr r1, [r0, #24]
    str r1, [r0, #48]
1:  bx lr
.thumb_func
pendsv:
    ldr r0, =0x20000000
    ldr r1, [r0, #28]
    adds r1, r1, #1
    str r1, [r0, #28]
    str lr, [r0, #32]
    bx lr
.thumb_func
irq0:
    ldr r0, =0x20000000
    ldr r1, [r0, #8]
    adds r1, r1, #1
    str r1, [r0, #8]
    bx lr
.thumb_func
irq1:
    ldr r0, =0x20000000
    ldr r1, [r0, #24]
    adds r1, r1, #1
    str r1, [r0, #24]
    str lr, [r0, #36]
    bx lr
.thumb_func
spin:
    b spin
.ltorg
"""
FP_REGISTERS = [f"s{i}" for i in range(16)] + ["fpscr"]


@pytest.fixture(scope="module")
def irq_elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _link_elf(tmp_path_factory.mktemp("irq"), IRQ_PROGRAM)


def _irq_state(machine: Machine) -> dict[str, object]:
    state = _state(machine)
    state["fp"] = {name: machine.reg_read(name) for name in FP_REGISTERS}
    state["pending"] = sorted(machine.nvic.pending)
    state["fpccr"] = machine.exception_unit.fpccr
    state["fpcar"] = machine.exception_unit.fpcar
    return state


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
def test_interrupt_entries_results(irq_elf: Path, native: bool) -> None:
    machine = _boot(irq_elf, native=native)
    result = machine.run(max_cycles=200_000)
    assert result.reason is RunReason.SLEEP, result.fault
    words = struct.unpack("<13I", machine.mem_read(RESULTS, 52))
    ticks, _, irq0, irq0_primask, irq0_cpsie, irq0_basepri, irq1, pendsvs = words[:8]
    pendsv_lr, irq1_lr, nesting, irq1_faultmask, irq1_nested = words[8:]
    assert ticks == 41, "40 timer ticks and one pended through ICSR"
    assert pendsvs == ticks, "every SysTick pends PendSV, taken by tail-chaining"
    assert pendsv_lr == 0xFFFF_FFAC, "PendSV from PSP Thread mode with an FP frame"
    assert (irq0_primask, irq0_cpsie) == (0, 1), "PRIMASK holds IRQ0 until CPSIE"
    assert irq0_basepri == 1, "BASEPRI 0x40 holds IRQ0 at 0x40"
    assert irq0 == 2
    assert irq1_faultmask == 1, "FAULTMASK holds IRQ1; BASEPRI did not"
    assert nesting == 1
    assert irq1 == 3
    assert irq1_nested == 3, "IRQ1 preempts SysTick right after the STIR write"
    # SysTick used the FPU, so the nested frame is an extended one.
    assert irq1_lr == 0xFFFF_FFA0, "nested IRQ1 returns to Handler mode with an FP frame"
    assert machine.nvic.active == set()
    assert machine.nvic.pending == set()
    if native:
        assert machine._core.native_entries >= 2 * ticks
        assert machine._core.native_returns >= 2 * ticks


def test_interrupt_entries_native_matches_python_model(irq_elf: Path) -> None:
    native = _boot(irq_elf, native=True)
    python = _boot(irq_elf, native=False)
    native.run(max_cycles=200_000)
    python.run(max_cycles=200_000)
    assert python._core.native_entries == 0
    assert _irq_state(native) == _irq_state(python)


def test_interrupt_entries_slice_independent(irq_elf: Path) -> None:
    whole = _boot(irq_elf, native=True)
    whole.run(max_cycles=100_000)
    sliced = _boot(irq_elf, native=True)
    end = sliced.cycles + 100_000
    while sliced.cycles < end:
        result = sliced.run(max_cycles=min(7, end - sliced.cycles))
        assert result.reason is not RunReason.CRASH, result.fault
    assert _irq_state(sliced) == _irq_state(whole)


# An SVC entered and left in the native loop, then a TIM6 write (UG with
# UIE set) that pends IRQ 49 from a peripheral callback before Python has
# applied the loop's changes: the pend must survive that update.
PERIPHERAL_PEND_PROGRAM = """
.syntax unified
.thumb
.cpu cortex-m33
.section .text
vectors:
    .word 0x20080000
    .word reset + 1
    .rept 9
    .word spin + 1
    .endr
    .word svc_handler + 1
    .rept 4
    .word spin + 1
    .endr
    .rept 49
    .word spin + 1
    .endr
    .word tim6 + 1
.thumb_func
reset:
    ldr r1, =0xE000E104
    ldr r2, =0x00020000
    str r2, [r1]
    ldr r1, =0x40001000
    movs r2, #1
    str r2, [r1, #0x0C]
    svc #0
    str r2, [r1, #0x14]
    dsb
    isb
    ldr r3, =0x20000000
    ldr r4, [r3]
    str r4, [r3, #4]
done:
    wfi
    b done
.thumb_func
svc_handler:
    bx lr
.thumb_func
tim6:
    ldr r0, =0x20000000
    ldr r1, [r0]
    adds r1, r1, #1
    str r1, [r0]
    ldr r1, =0x40001000
    movs r2, #0
    str r2, [r1, #0x10]
    bx lr
.thumb_func
spin:
    b spin
.ltorg
"""


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
def test_peripheral_pend_after_native_return_is_taken(tmp_path: Path, native: bool) -> None:
    machine = _boot(_link_elf(tmp_path, PERIPHERAL_PEND_PROGRAM), native=native)
    result = machine.run(max_cycles=10_000)
    assert result.reason is RunReason.SLEEP, result.fault
    taken, seen_by_thread = struct.unpack("<2I", machine.mem_read(RESULTS, 8))
    assert taken == 1
    assert seen_by_thread == 1, "the TIM6 interrupt runs right after the write"
    assert machine.nvic.pending == set()
    if native:
        assert machine._core.native_entries == 2
