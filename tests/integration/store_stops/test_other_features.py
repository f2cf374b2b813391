"""CCR traps, the MPU, unaligned stores, FP frames, debugging, system calls and sleep."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from openvisor.machine import Machine, RunReason

from .programs import (
    AFTER,
    ENABLE_IRQ0,
    ENABLE_USAGEFAULT,
    ISPR0,
    MARKERS,
    PATHS,
    PLAIN,
    READY,
    START,
    address_of,
    boot,
    check_entry,
    copy_blob,
    launch,
    run_to_bkpt,
    set_ccr,
)

# Other features: CCR traps, the MPU, unaligned stores, FP frames.
FEATURES = {
    "none": "",
    "div-0-trap": set_ccr(0x10),
    "unaligned-trap": set_ccr(0x08),
    # CTRL: ENABLE | PRIVDEFENA
    "mpu-default-map": "ldr r3, =0xE000ED94\n    movs r5, #5\n    str r5, [r3]",
    "mpu-region": """ldr r3, =0xE000ED98
    movs r5, #0
    str r5, [r3]           @ RNR 0
    ldr r3, =0xE000ED9C
    ldr r5, =0x20000000    @ RBAR: privileged read-write, executable
    str r5, [r3]
    ldr r3, =0xE000EDA0
    ldr r5, =0x2000FFE1    @ RLAR: 64 KiB, enabled
    str r5, [r3]
    ldr r3, =0xE000ED94
    movs r5, #5
    str r5, [r3]""",
}


@PATHS
@pytest.mark.parametrize("feature", sorted(FEATURES))
def test_store_between_divisions_in_sram(
    assemble: Callable[..., bytes], native: bool, feature: str
) -> None:
    """SRAM code with SDIV around the store, under each trap and MPU set-up."""
    source = f"""
.thumb_func
reset:
    {ENABLE_IRQ0}
    {FEATURES[feature]}
    dsb
    isb
    {copy_blob(0x2000_0100)}
    {READY}
    movs r6, #100
    movs r7, #3
    ldr r2, =0x20000101
    blx r2
    bkpt #0
    .ltorg
    .balign 4
blob:
    sdiv r3, r6, r7
    str r1, [r0]
    adds r4, r4, #1
    sdiv r3, r6, r7
    adds r4, r4, #1
    adds r4, r4, #1
    bx lr
    .balign 4
blob_end:
"""
    machine = launch(assemble(source), native=native, cycles=5_000)
    assert machine.reg_read("r11") == 1
    assert machine.reg_read("r8") == 0
    assert machine.reg_read("r9") == 0x2000_0106
    assert machine.reg_read("r3") == 33
    assert machine._core.store_stops == 1
    assert machine._core.store_unverified == 0


@PATHS
def test_division_by_zero_right_after_store(assemble: Callable[..., bytes], native: bool) -> None:
    """DIV_0_TRP: the IRQ runs first, then the division faults at its own address."""
    source = f"""
.thumb_func
reset:
    {ENABLE_USAGEFAULT}
    {set_ccr(0x10)}
    {ENABLE_IRQ0}
    movs r4, #0
    movs r11, #0
    movs r6, #100
    movs r7, #0
    ldr r0, =0xE000EF00
    movs r1, #0
    isb
    str r1, [r0]
division:
    sdiv r3, r6, r7
    bkpt #0
.thumb_func
usagefault:
    ldr r10, [sp, #24]
    bkpt #0xfe
"""
    image = assemble(source)
    machine = launch(image, native=native)
    division = address_of(image, bytes.fromhex("96fbf7f3"))
    assert machine.reg_read("r11") == 1
    assert machine.reg_read("r9") == division
    assert machine.reg_read("r10") == division
    assert machine.exception_unit.cfsr & (1 << 25)  # DIVBYZERO


@PATHS
def test_unaligned_store_across_two_registers(assemble: Callable[..., bytes], native: bool) -> None:
    """STRH at ISPR0 + 3 writes the last byte of ISPR0 and the first of ISPR1: both IRQs pend."""
    source = f"""
.thumb_func
reset:
    ldr r3, =0xE000E100
    ldr r5, =0x01000000
    str r5, [r3]           @ IRQ 24
    movs r5, #1
    str r5, [r3, #4]       @ IRQ 32
    movs r4, #0
    movs r10, #0
    movs r11, #0
    ldr r0, =0xE000E203
    ldr r1, =0x0101
    isb
    strh r1, [r0]
{AFTER}
.thumb_func
irq:
    adds r11, r11, #1
    mrs r12, ipsr
    lsl r10, r10, #8
    orr r10, r10, r12
    cmp r11, #1
    bne 1f
    mov r8, r4
    ldr r9, [sp, #24]
1:  bx lr
"""
    image = assemble(source)
    machine = launch(image, native=native)
    assert machine.reg_read("r11") == 2
    assert machine.reg_read("r10") == (40 << 8) | 48  # IRQ 24, then IRQ 32
    assert machine.reg_read("r8") == 0
    assert machine.reg_read("r9") == address_of(image, MARKERS)
    assert machine._core.store_unverified == 0


@PATHS
@pytest.mark.parametrize("target", ["nvic", "peripheral"])
def test_unaligned_trap_store_faults_at_store(
    assemble: Callable[..., bytes], native: bool, target: str
) -> None:
    """UNALIGN_TRP: an unaligned STR that would pend faults at itself and pends nothing."""
    address, enable = {
        "nvic": (ISPR0 + 1, "ldr r3, =0xE000E100\n    ldr r5, =0x100\n    str r5, [r3]"),
        # TIM6 EGR.UG with DIER.UIE and IRQ 49 enabled.
        "peripheral": (
            0x4000_1013,
            """ldr r3, =0xE000E104
    ldr r5, =0x20000
    str r5, [r3]
    ldr r3, =0x4000100C
    movs r5, #1
    str r5, [r3]""",
        ),
    }[target]
    value = 0x01 if target == "nvic" else 0x100
    source = f"""
.thumb_func
reset:
    {ENABLE_USAGEFAULT}
    {set_ccr(0x08)}
    {enable}
    movs r4, #0
    movs r11, #0
    ldr r0, ={address:#x}
    ldr r1, ={value:#x}
    isb
    str r1, [r0]
{AFTER}
.thumb_func
usagefault:
    ldr r10, [sp, #24]
    bkpt #0xfe
"""
    image = assemble(source)
    machine = launch(image, native=native)
    assert machine.reg_read("r10") == address_of(image, MARKERS) - 2
    assert machine.exception_unit.cfsr & (1 << 24)  # UNALIGNED
    assert machine.reg_read("r11") == 0
    assert machine._core.store_stops == 0


@PATHS
def test_extended_frame_after_store(assemble: Callable[..., bytes], native: bool) -> None:
    """With FP context active the frame is extended and S0-S15 survive the handler."""
    source = f"""
.thumb_func
reset:
    ldr r3, =0xE000ED88
    ldr r5, =0x00F00000
    str r5, [r3]           @ CPACR: CP10 and CP11
    dsb
    isb
    {START}
    ldr r5, =0x3f800000
    vmov s0, r5
    vmov s15, r5
    isb
    str r1, [r0]
    adds r4, r4, #1
    adds r4, r4, #1
    adds r4, r4, #1
    vmov r6, s0
    vmov r7, s15
    isb
    bkpt #0
.thumb_func
irq:
    adds r11, r11, #1
    mov r8, r4
    mov r10, lr
    ldr r9, [sp, #24]
    movs r12, #0
    vmov s0, r12
    vmov s15, r12
    bx lr
"""
    image = assemble(source)
    machine = launch(image, native=native)
    check_entry(machine, image)
    assert machine.reg_read("r10") & 0x10 == 0  # EXC_RETURN.FType: extended frame
    assert machine.reg_read("r6") == 0x3F80_0000
    assert machine.reg_read("r7") == 0x3F80_0000


# Debugging, gateway calls, sleep.


@PATHS
def test_breakpoint_after_store_runs_handler_once(
    assemble: Callable[..., bytes], native: bool
) -> None:
    image = assemble(PLAIN)
    reference = boot(image, native=native)
    run_to_bkpt(reference)
    machine = boot(image, native=native)
    after = address_of(image, MARKERS)
    machine.add_breakpoint(after)
    run_to_bkpt(machine)
    assert machine.reg_read("r11") == 1
    assert machine.reg_read("r9") == after
    assert machine.reg_read("r4") == 3
    assert machine.cycles == reference.cycles
    assert machine._core.store_unverified == 0


@PATHS
def test_step_over_store_then_into_handler(assemble: Callable[..., bytes], native: bool) -> None:
    image = assemble(PLAIN)
    after = address_of(image, MARKERS)
    store = after - 2
    machine = boot(image, native=native)
    machine.add_breakpoint(store)
    assert machine.run(max_cycles=2_000).reason is RunReason.BREAKPOINT
    assert machine.pc == store
    machine.remove_breakpoint(store)
    machine.step()
    assert machine.pc == after
    machine.step()
    assert machine.current_exception() == 16  # IRQ 0 entered before the next instruction
    run_to_bkpt(machine)
    assert machine.reg_read("r11") == 1
    assert machine.reg_read("r9") == after
    assert machine.reg_read("r4") == 3


@PATHS
def test_gateway_call_after_store(assemble: Callable[..., bytes], native: bool) -> None:
    """The IRQ runs before the call that follows the store, and the call is served once."""
    source = f"""
.thumb_func
reset:
    {START}
    ldr r2, =0x0C1FE001
    isb
    str r1, [r0]
call:
    blx r2
    mov r6, r0
{AFTER}
"""
    image = assemble(source)
    machine = boot(image, native=native)
    calls = []

    def serve(machine: Machine, address: int) -> int:
        calls.append((address, machine.reg_read("r11")))
        return 7

    machine.gateway_handler = serve
    assert machine.run(max_cycles=2_000).reason is RunReason.BREAKPOINT
    assert calls == [(0x0C1F_E000, 1)]
    assert machine.reg_read("r6") == 7
    assert machine.reg_read("r9") == address_of(image, bytes.fromhex("9047"))  # blx r2
    assert machine._core.store_unverified == 0


@PATHS
def test_wfi_right_after_store_sleeps_after_handler(
    assemble: Callable[..., bytes], native: bool
) -> None:
    source = f"""
.thumb_func
reset:
    {START}
    isb
    str r1, [r0]
    wfi
    adds r4, r4, #1
    bkpt #0
"""
    image = assemble(source)
    machine = boot(image, native=native)
    result = machine.run(max_cycles=2_000)
    assert result.reason is RunReason.SLEEP
    assert machine.reg_read("r11") == 1
    assert machine.reg_read("r9") == address_of(image, bytes.fromhex("30bf"))  # WFI
    assert machine.reg_read("r4") == 0
    assert machine.sleeping
