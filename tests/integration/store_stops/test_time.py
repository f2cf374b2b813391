"""Virtual time after a stop at a store: slices, both paths, and what peripherals read."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .programs import (
    AFTER,
    ENABLE_CYCCNT,
    ENABLE_IRQ0,
    ENABLE_IRQ49,
    FLASH,
    MARKERS,
    PATHS,
    PLAIN,
    READY,
    START,
    address_of,
    adds,
    boot,
    check_entry,
    launch,
    run_to_bkpt,
    sampling,
    short_run,
    ticking,
    timed_pend,
)

# Determinism: a loop of stores under SysTick, in slices of any size.

LOOP = """
.thumb_func
reset:
    {enable}
    {ticking}
    movs r2, #40
loop:
    adds r4, r4, #1
    str r1, [r0]
    adds r4, r4, #3
    adds r4, r4, #5
    str r1, [r0]
    adds r12, r12, r4
    subs r2, r2, #1
    bne loop
    bkpt #0
.thumb_func
irq:
    adds r11, r11, #1
    add r10, r10, r4
    bx lr
.thumb_func
systick:
    adds r9, r9, #1
    add r8, r8, r4
    bx lr
"""


@pytest.mark.parametrize("reload", [13, 37])
def test_slices_and_paths_agree(assemble: Callable[..., bytes], reload: int) -> None:
    image = assemble(LOOP.format(enable=ENABLE_IRQ0, ticking=ticking(reload)))
    outcomes = {}
    for native in (True, False):
        for slice_cycles in (100_000, 1, 2, 3, 7, 50):
            machine = boot(image, native=native)
            run_to_bkpt(machine, slice_cycles=slice_cycles)
            # Iteration k (from 1) leaves r4 = 9k, and IRQ 0 records 9k - 8 and 9k.
            assert machine.reg_read("r11") == 80
            assert machine.reg_read("r10") == sum(18 * k - 8 for k in range(1, 41))
            assert machine._core.store_unverified == 0
            registers = tuple(machine.reg_read(f"r{n}") for n in (4, 8, 9, 10, 11, 12))
            outcomes[(native, slice_cycles)] = (machine.cycles, registers)
    assert len(set(outcomes.values())) == 1, outcomes


# Virtual time as peripherals read it. TIM6 counts core cycles (PSC = 0).
# An MMIO access reads the time at the end of its translated block, so
# after a stop at the store the clock must not fall behind that time.
TIMER_STARTS = {
    # EGR.UG restarts the counter at 0 and pends IRQ 49 (DIER.UIE).
    "update-generation": ("", "ldr r0, =0x40001014\n    movs r1, #1\n    str r1, [r0]"),
    # CR1.CEN starts the counter in the block where STIR pends IRQ 49.
    "enable-then-stir": (
        "ldr r0, =0x40001000\n    movs r1, #1\n    str r1, [r0]",
        "ldr r0, =0xE000EF00\n    movs r1, #49\n    str r1, [r0]",
    ),
}


# The timer's handler clears SR.UIF after it reads CNT.
CLEAR_UIF = "ldr r3, =0x40001010\n    movs r5, #0\n    str r5, [r3]"


@PATHS
@pytest.mark.parametrize("start", sorted(TIMER_STARTS))
def test_timer_counter_after_store_stop(
    assemble: Callable[..., bytes], native: bool, start: str
) -> None:
    before, store = TIMER_STARTS[start]
    enable = "" if before else "movs r5, #1\n    str r5, [r3]           @ CR1.CEN"
    source = f"""
.thumb_func
reset:
    {ENABLE_IRQ49}
    ldr r3, =0x40001000
    ldr r5, =0xFFFF
    str r5, [r3, #0x2C]    @ ARR
    movs r5, #1
    str r5, [r3, #0x0C]    @ DIER.UIE
    {enable}
    movs r4, #0
    movs r11, #0
    isb
    {before}
    {store}
    {adds(100)}
    isb
    ldr r3, =0x40001024
    ldr r7, [r3]           @ CNT after the 100 ADDS
    bkpt #0
{sampling(0x4000_1024, "r6", CLEAR_UIF)}
"""
    machine = launch(assemble(source), native=native, cycles=5_000)
    assert machine.reg_read("r11") == 1
    assert machine.reg_read("r8") == 0
    in_handler = machine.reg_read("r6")
    at_end = machine.reg_read("r7")
    assert in_handler <= 0xFFFF, f"CNT read {in_handler:#x}"
    assert in_handler < 20  # a few instructions after the counter started
    assert in_handler <= at_end  # no wrap with ARR = 0xFFFF


@PATHS
def test_cycle_counter_never_goes_back(assemble: Callable[..., bytes], native: bool) -> None:
    """DWT CYCCNT is read before the store in its block, then in the handler the store pends."""
    source = f"""
.thumb_func
reset:
    {ENABLE_IRQ0}
    {ENABLE_CYCCNT}
    {READY}
    {timed_pend("r6", 50)}
    isb
    bkpt #0
{sampling(0xE000_1004, "r7")}
"""
    machine = launch(assemble(source), native=native, cycles=5_000)
    assert machine.reg_read("r11") == 1
    assert machine.reg_read("r8") == 0
    before, in_handler = machine.reg_read("r6"), machine.reg_read("r7")
    assert before <= in_handler, f"CYCCNT went from {before} back to {in_handler}"


@PATHS
def test_systick_value_after_store_stop(assemble: Callable[..., bytes], native: bool) -> None:
    """SysTick enabled in the block where STIR pends IRQ 0: CVR has just left RVR in the handler."""
    source = f"""
.thumb_func
reset:
    {ENABLE_IRQ0}
    ldr r3, =0xE000E014
    ldr r5, =0xFFFFFF
    str r5, [r3]           @ SYST_RVR
    {READY}
    ldr r3, =0xE000E010
    movs r5, #5
    isb
    str r5, [r3]           @ SYST_CSR: enable, core clock, no interrupt
    str r1, [r0]           @ STIR: IRQ 0
    {adds(100)}
    isb
    ldr r3, =0xE000E018
    ldr r7, [r3]           @ SYST_CVR after the 100 ADDS
    bkpt #0
{sampling(0xE000_E018, "r6")}
"""
    machine = launch(assemble(source), native=native, cycles=5_000)
    assert machine.reg_read("r11") == 1
    assert machine.reg_read("r8") == 0
    in_handler = machine.reg_read("r6")
    at_end = machine.reg_read("r7")
    # The enabling write saw the time at the end of its block, and time
    # does not move until the instructions counted ahead have run: the
    # handler still reads CVR as the enable left it (0, reloaded on the
    # next tick), never a value past RVR or counted down further.
    assert in_handler == 0, f"CVR read {in_handler:#x}"
    # By the end, the handler and the 100 ADDS have run: CVR has counted
    # down from RVR by fewer than 120 cycles.
    assert 0xFFFFFF - 120 < at_end < 0xFFFFFF, f"CVR read {at_end:#x}"


@PATHS
def test_store_at_flash_base(assemble: Callable[..., bytes], native: bool) -> None:
    """The initial SP 0x20006008 reads as STR R0, [R1] then MOVS R0, #0: run it as code."""
    source = """
.section .text
.word 0x20006008           @ str r0, [r1] ; movs r0, #0
.word reset + 1            @ 0x0102 lsls r1, r0, #4 ; 0x0800 lsrs r0, r0, #32
    bx lr
    .balign 128
table:
.word 0x20006008
.word reset + 1
.rept 14
.word spin + 1
.endr
.word irq + 1
.rept 15
.word spin + 1
.endr
.thumb_func
spin:
    b spin
    .balign 256
.thumb_func
reset:
    ldr r3, =0xE000ED08
    ldr r5, =table
    str r5, [r3]           @ VTOR
    dsb
    isb
    ldr r3, =0xE000E100
    movs r5, #1
    str r5, [r3]
    movs r4, #0
    movs r11, #0
    ldr r1, =0xE000EF00
    movs r0, #0
    ldr r2, =0x08000001
    blx r2
    isb
    bkpt #0
.thumb_func
irq:
    adds r11, r11, #1
    ldr r9, [sp, #24]
    bx lr
.ltorg
"""
    image = assemble(source, raw=True)
    assert image[:4] == bytes.fromhex("08600020")
    machine = launch(image, native=native)
    assert machine.reg_read("r11") == 1
    assert machine.reg_read("r9") == FLASH + 2
    assert machine._core.store_stops == 1
    assert machine._core.store_unverified == 0


# System register stores that end the run slice or retranslate, in the
# block of the pending store.
SAME_BLOCK = {
    "ccr-div-0-trap": "ldr r3, =0xE000ED14\n    ldr r5, [r3]\n    orr r5, r5, #0x10",
    "ccr-unaligned-trap": "ldr r3, =0xE000ED14\n    ldr r5, [r3]\n    orr r5, r5, #0x08",
    "mpu-enable": "ldr r3, =0xE000ED94\n    movs r5, #5",
    "aircr-prigroup": "ldr r3, =0xE000ED0C\n    ldr r5, =0x05FA0300",
}


@PATHS
@pytest.mark.parametrize("register", sorted(SAME_BLOCK))
def test_system_store_in_same_block(
    assemble: Callable[..., bytes], native: bool, register: str
) -> None:
    source = f"""
.thumb_func
reset:
    {START}
    {SAME_BLOCK[register]}
    isb
    str r5, [r3]
    str r1, [r0]
{AFTER}
"""
    image = assemble(source)
    machine = launch(image, native=native)
    check_entry(machine, image)
    assert machine._core.store_unverified == 0


@PATHS
def test_budget_ends_at_store_then_step(assemble: Callable[..., bytes], native: bool) -> None:
    """A run whose budget ends at the stop leaves IRQ 0 pending, and the next step enters it."""
    image = assemble(PLAIN)
    after = address_of(image, MARKERS)
    reference = boot(image, native=native)
    run_to_bkpt(reference)
    machine = short_run(
        image,
        native=native,
        limit=20,
        ends=lambda machine: machine.pc == after and machine.reg_read("r11") == 0,
        failure="no budget ends the run right after the store",
    )
    machine.step()
    assert machine.current_exception() == 16
    run_to_bkpt(machine)
    assert machine.reg_read("r11") == 1
    assert machine.reg_read("r9") == after
    assert machine.cycles == reference.cycles
