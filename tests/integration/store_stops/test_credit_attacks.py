"""Virtual time and IT-state edge cases around the stop right after a store.

After a stop at a store, the instructions of the store's block that never
ran stay counted as credit (``credit`` in ``machine/_native.h``): the
cycle count must never go back, and runs must not depend on slice sizes.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from openvisor.machine import RunReason

from .programs import (
    ENABLE_CYCCNT,
    ENABLE_IRQ0,
    ENABLE_USAGEFAULT,
    ENABLE_USART2,
    PATHS,
    READY,
    START,
    address_of,
    adds,
    boot,
    copy_blob,
    launch,
    run_to_bkpt,
    set_ccr,
    short_run,
    ticking,
    timed_pend,
)

# Cycle count after a trap or breakpoint inside a block paid with credit.

TRAP_IN_HANDLER = f"""
.thumb_func
reset:
    {ENABLE_USAGEFAULT}
    ldr r3, =0xE000ED14
    ldr r5, [r3]
    orr r5, r5, #{{ccr_bits:#x}}
    str r5, [r3]           @ CCR
    ldr r3, =0xE000E400
    movs r5, #0x80
    strb r5, [r3]          @ IRQ 0 priority 0x80, below UsageFault
    {ENABLE_IRQ0}
    {ENABLE_CYCCNT}
    movs r4, #0
    movs r11, #0
    ldr r6, =0x20000000
    movs r7, #0
    ldr r0, =0xE000EF00
    movs r1, #0
    {timed_pend("r10", 60)}
    isb
    bkpt #0
.thumb_func
irq:
    {{trap}}                 @ UsageFault at the handler's first instruction
    adds r11, r11, #1
    bx lr
.thumb_func
usagefault:
    ldr r3, =0xE0001004
    ldr r12, [r3]          @ CYCCNT in the UsageFault handler
    bkpt #0xfe
"""

# (CCR bits, the trapping instruction, the CFSR bit it sets)
TRAPS = {
    "div-0-trap": (0x10, "sdiv r2, r6, r7", 1 << 25),
    "unaligned-trap": (0x08, "ldr r2, [r6, #1]", 1 << 24),
    "nocp": (0, "vmov s0, r6", 1 << 19),  # CPACR denies CP10 from reset
}


@PATHS
@pytest.mark.parametrize("trap", sorted(TRAPS))
def test_trap_in_credited_block(assemble: Callable[..., bytes], native: bool, trap: str) -> None:
    """The trap rewinds a handler block paid with credit: CYCCNT must not go back."""
    ccr_bits, instruction, cfsr_bit = TRAPS[trap]
    source = TRAP_IN_HANDLER.format(ccr_bits=ccr_bits, trap=instruction)
    machine = launch(assemble(source), native=native)
    assert machine.exception_unit.cfsr & cfsr_bit
    before, in_fault = machine.reg_read("r10"), machine.reg_read("r12")
    assert in_fault >= before, f"CYCCNT went from {before} back to {in_fault}"


CREDIT_THEN_HANDLER = f"""
.thumb_func
reset:
    {START}
    isb
    str r1, [r0]           @ STIR: IRQ 0
    {adds(60)}
    isb
    bkpt #0
.thumb_func
irq:
    adds r11, r11, #1
    adds r11, r11, #2      @ the breakpoint
    adds r11, r11, #3
    bx lr
"""


@PATHS
def test_breakpoint_in_credited_block(assemble: Callable[..., bytes], native: bool) -> None:
    """A budget ends right after the stop, and a breakpoint in the handler must not move time back."""
    image = assemble(CREDIT_THEN_HANDLER)
    machine = short_run(
        image,
        native=native,
        limit=40,
        ends=lambda machine: machine.reg_read("r11") == 0 and machine._core.credit != 0,
        failure="no budget ends the run with credit left before the handler",
    )
    before = machine.cycles
    breakpoint_address = address_of(image, bytes.fromhex("1bf1020b"))  # adds r11, r11, #2
    machine.add_breakpoint(breakpoint_address)
    result = machine.run(max_cycles=1_000)
    assert result.reason is RunReason.BREAKPOINT
    assert machine.pc == breakpoint_address
    assert result.cycles >= 0
    assert machine.cycles >= before, f"cycles went from {before} back to {machine.cycles}"


DIVISION_LOOP = f"""
.thumb_func
reset:
    {ENABLE_USAGEFAULT}
    {set_ccr(0x10)}
    movs r6, #100
    movs r7, #3
    isb
loop:
    subs r7, r7, #1
    sdiv r3, r6, r7        @ divides by zero on the third pass
    b loop
.thumb_func
usagefault:
    bkpt #0xfe
"""


@PATHS
def test_step_onto_division_trap(assemble: Callable[..., bytes], native: bool) -> None:
    """Stepping onto SDIV by zero leaves the last counted block alone: the step never ran it."""
    image = assemble(DIVISION_LOOP)
    loop = address_of(image, bytes.fromhex("013f96fbf7f3"))
    machine = short_run(
        image,
        native=native,
        limit=60,
        ends=lambda machine: machine.pc == loop and machine.reg_read("r7") == 1,
        failure="no budget ends the run at the loop head before the last pass",
    )
    machine.step()  # SUBS: r7 = 0
    after_subs = machine.cycles
    machine.step()  # SDIV by zero: UsageFault entry
    assert machine.current_exception() == 6
    assert machine.cycles >= after_subs, f"cycles went from {after_subs} back to {machine.cycles}"


# Determinism: stores, SysTick and a timer interrupt that reads the timer.

TIMER_LOOP = """
.thumb_func
reset:
    ldr r3, =0xE000E100
    movs r5, #1
    str r5, [r3]           @ IRQ 0
    ldr r3, =0xE000E104
    ldr r5, =0x20000
    str r5, [r3]           @ ISER1: IRQ 49 (TIM6)
    ldr r3, =0x40001000
    movs r5, #{arr}
    str r5, [r3, #0x2C]    @ ARR
    movs r5, #1
    str r5, [r3, #0x0C]    @ DIER.UIE
    str r5, [r3]           @ CR1.CEN
    {ticking}
    movs r2, #60
loop:
    adds r4, r4, #1
    str r1, [r0]           @ STIR: IRQ 0
    adds r4, r4, #3
    adds r4, r4, #5
    adds r4, r4, #5
    {second_store}
    adds r12, r12, r4
    adds r4, r4, #5
    subs r2, r2, #1
    bne loop
    bkpt #0
.thumb_func
irq:
    adds r11, r11, #1
    add r10, r10, r4
    mrs r6, ipsr
    cmp r6, #65            @ TIM6 (IRQ 49)
    bne 1f
    ldr r3, =0x40001010
    movs r6, #0
    str r6, [r3]           @ clear SR.UIF
    ldr r3, =0x40001024
    ldr r6, [r3]           @ CNT
    add r10, r10, r6
1:  bx lr
.thumb_func
systick:
    adds r9, r9, #1
    add r8, r8, r4
    ldr r3, =0xE0001004    @ a literal load: one more instruction
    bx lr
"""


# The second store of the loop: plain, or in an IT block, whose stop hook
# the machine adds at the first pend (at the same point in every slicing).
SECOND_STORES = {
    "plain": "str r1, [r0]           @ STIR: IRQ 0",
    "in-it": "cmp r1, #0\n    itt eq\n    streq r1, [r0]\n    addeq r4, r4, #2",
}


@pytest.mark.parametrize("second", sorted(SECOND_STORES))
@pytest.mark.parametrize(("reload", "arr"), [(13, 97), (37, 151), (23, 61)])
def test_timer_reads_agree_across_slices(
    assemble: Callable[..., bytes], reload: int, arr: int, second: str
) -> None:
    """Slice sizes and exception paths must not change what the program computes or reads."""
    source = TIMER_LOOP.format(ticking=ticking(reload), arr=arr, second_store=SECOND_STORES[second])
    image = assemble(source)
    outcomes = {}
    for native in (True, False):
        for slice_cycles in (100_000, 1, 2, 3, 7, 50):
            machine = boot(image, native=native)
            run_to_bkpt(machine, slice_cycles=slice_cycles)
            assert machine._core.store_unverified == 0
            assert machine._core.it_exit_count == (1 if second == "in-it" else 0)
            registers = tuple(machine.reg_read(f"r{n}") for n in (4, 8, 9, 10, 11, 12))
            outcomes[(native, slice_cycles)] = (machine.cycles, registers)
    assert len(set(outcomes.values())) == 1, outcomes


@PATHS
def test_credit_stays_within_block(assemble: Callable[..., bytes], native: bool) -> None:
    """Credit never exceeds one block, and the cycle count never goes back between slices."""
    image = assemble(
        TIMER_LOOP.format(ticking=ticking(23), arr=61, second_store=SECOND_STORES["plain"])
    )
    machine = boot(image, native=native)
    # No straight run of this program reaches 40 instructions. The reset code comes closest.
    largest_block = 40
    previous = machine.cycles
    for _ in range(10_000):
        result = machine.run(max_cycles=3)
        assert machine._core.credit < largest_block, f"credit {machine._core.credit}"
        assert machine.cycles >= previous
        previous = machine.cycles
        if result.reason is RunReason.BREAKPOINT:
            break
    assert machine.mem_read(machine.pc, 2) == b"\x00\xbe"  # the final BKPT #0
    assert machine._core.store_stops == 120


# IT state the store-stop checks cannot see.

REWRITTEN_IT = f"""
.thumb_func
reset:
    {ENABLE_IRQ0}
    {copy_blob(0x2000_0100)}
    {READY}
    ldr r6, =0x20000102    @ the ITT below, once copied
    ldr r5, =0xBF00        @ NOP
    ldr r3, =0x40004424    @ USART2 RDR
    ldr r2, =0x20000101
    blx r2
    isb
    bkpt #0
    .ltorg
    .balign 4
blob:
    cmp r0, r0
    itt eq
    strheq r5, [r6]        @ rewrites the ITT, which has already run, as NOP
    streq r1, [r0]         @ STIR: IRQ 0
    adds r4, r4, #1
    ldrb r7, [r3]          @ RDR: pops one received byte
    adds r4, r4, #1
    bx lr
    .balign 4
blob_end:
"""


@PATHS
def test_it_block_rewritten_in_sram(assemble: Callable[..., bytes], native: bool) -> None:
    """The block runs as translated, with its ITT: the RDR load after it must run once."""
    machine = boot(assemble(REWRITTEN_IT), native=native)
    machine.peripherals.usart2.inject(b"AB")
    assert machine.run(max_cycles=3_000).reason is RunReason.BREAKPOINT
    assert machine.reg_read("r11") == 1
    assert machine.reg_read("r4") == 2
    assert machine.reg_read("r7") == ord("A")  # "B" when the load ran twice
    assert machine._core.store_unverified == 0


HOST_IT_STATE = f"""
.thumb_func
reset:
    {ENABLE_IRQ0}
    {ENABLE_USART2}
    adds r3, r3, #0x28     @ TDR
    movs r2, #0x41
    {READY}
    bkpt #1
    .balign 64
target:
    str r1, [r0]           @ STIR: IRQ 0
    adds r4, r4, #1
    strb r2, [r3]          @ TDR: "A"
    adds r4, r4, #1
    isb
    bkpt #0
"""


@PATHS
def test_host_written_it_state(assemble: Callable[..., bytes], native: bool) -> None:
    """The host sets IT AL in xPSR and PC at the store: the TDR store must transmit once."""
    image = assemble(HOST_IT_STATE)
    machine = launch(image, native=native, cycles=1_000)
    target = address_of(image, bytes.fromhex("01600134"))  # str r1, [r0]; adds r4, r4, #1
    machine.pc = target
    machine.reg_write("xpsr", 0x0100_E800)  # IT AL: the store is conditional on "always"
    run_to_bkpt(machine)
    assert bytes(machine.peripherals.usart2.output) == b"A"
    assert machine.reg_read("r11") == 1
    assert machine.reg_read("r4") == 2
    assert machine._core.store_unverified == 0


# SHCSR pended bits written by the app.

SHCSR_WRITE = """
.thumb_func
reset:
    movs r4, #0
    movs r11, #0
    ldr r0, =0xE000ED24
    ldr r1, ={value:#x}
    isb
    str r1, [r0]           @ SHCSR
    adds r4, r4, #1
    adds r4, r4, #1
    isb
    bkpt #0
.thumb_func
{handler}:
    adds r11, r11, #1
    mrs r10, ipsr
    mov r8, r4
    ldr r9, [sp, #24]
    bx lr
"""

# The app owns BusFault here (its own bus faults go to its handler), so
# BUSFAULTPENDED pends it like the other configurable faults.
SHCSR_PENDS = {
    "busfault": ("busfault", (1 << 14) | (1 << 17), 5),
    "svcall": ("svc_handler", 1 << 15, 11),
    "usagefault": ("usagefault", (1 << 12) | (1 << 18), 6),
}


@PATHS
@pytest.mark.parametrize("exception", sorted(SHCSR_PENDS))
def test_shcsr_pended_bit_taken_after_store(
    assemble: Callable[..., bytes], native: bool, exception: str
) -> None:
    handler, value, number = SHCSR_PENDS[exception]
    image = assemble(SHCSR_WRITE.format(value=value, handler=handler))
    machine = launch(image, native=native, cycles=1_000)
    assert machine.reg_read("r11") == 1
    assert machine.reg_read("r10") == number
    assert machine.reg_read("r8") == 0
    assert machine.reg_read("r9") == address_of(image, bytes.fromhex("01340134"))
    assert machine.exception_unit.cfsr == 0  # a pend by software records no fault


@PATHS
def test_shcsr_disabled_fault_stays_pending(assemble: Callable[..., bytes], native: bool) -> None:
    """USGFAULTPENDED without USGFAULTENA: the fault pends but is not taken."""
    image = assemble(SHCSR_WRITE.format(value=1 << 12, handler="usagefault"))
    machine = launch(image, native=native, cycles=1_000)
    assert machine.reg_read("r11") == 0
    assert machine.reg_read("r4") == 2
    assert machine.bus_read(0xE000_ED24) & (1 << 12)
