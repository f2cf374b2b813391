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


@pytest.fixture(scope="module")
def svc_elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("arm-none-eabi-as") is None:
        pytest.skip("arm-none-eabi-as is not installed (Debian: apt-get install gcc-arm-none-eabi)")
    workdir = tmp_path_factory.mktemp("svc")
    (workdir / "svc.S").write_text(SVC_PROGRAM)
    subprocess.run(["arm-none-eabi-as", "-o", "svc.o", "svc.S"], cwd=workdir, check=True)
    subprocess.run(
        ["arm-none-eabi-ld", "-Ttext=0x08000000", "-e", "0x08000000", "-o", "svc.elf", "svc.o"],
        cwd=workdir,
        check=True,
    )
    return workdir / "svc.elf"


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
    # Every SVC but the two escalated ones went through the native loop, and
    # so did the returns from the two HardFaults and the PendSV.
    assert machine._core.native_entries == SVC_COUNT
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
    if shutil.which("arm-none-eabi-as") is None:
        pytest.skip("arm-none-eabi-as is not installed (Debian: apt-get install gcc-arm-none-eabi)")
    workdir = tmp_path_factory.mktemp("pendsv_svc")
    (workdir / "pendsv_svc.S").write_text(PENDSV_SVC_PROGRAM)
    subprocess.run(["arm-none-eabi-as", "-o", "p.o", "pendsv_svc.S"], cwd=workdir, check=True)
    subprocess.run(
        ["arm-none-eabi-ld", "-Ttext=0x08000000", "-e", "0x08000000", "-o", "p.elf", "p.o"],
        cwd=workdir,
        check=True,
    )
    return workdir / "p.elf"


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
