"""IT blocks, forged IT states and where the code lies (SRAM, page ends, long blocks)."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from openvisor.machine import Machine, RunReason, _native

from .programs import (
    AFTER,
    ENABLE_IRQ0,
    ENABLE_USART2,
    PATHS,
    RDR,
    READY,
    START,
    boot,
    check_entry,
    copy_blob,
    launch,
    run_to_bkpt,
)

# Exception return with a forged IT state. IRQ 0's handler rewrites its
# stacked frame to return to `target` with the given xPSR, and the store
# at `target` pends IRQ 1. IT AL (ITSTATE 0xE8, xPSR bits 15:10 = 0b111010)
# makes the next instruction conditional on "always", so the program must
# behave as it does with a plain xPSR. Only Unicorn's translation differs.
PLAIN_XPSR = 0x0100_0000
IT_AL_XPSR = 0x0100_E800

FORGED_RETURN = """
.thumb_func
reset:
    ldr r3, =0xE000E100
    movs r5, #7            @ IRQ 0, 1 and 2
    str r5, [r3]
    {setup}
    movs r4, #0
    movs r10, #0
    movs r11, #0
    ldr r0, =0xE000EF00
    ldr r6, =0xE000E200
    movs r5, #1
    str r5, [r6]           @ pend IRQ 0
    nop
    bkpt #1
    .balign 64
target:
    {target}
.thumb_func
irq:
    ldr r7, =target
    str r7, [sp, #24]
    ldr r7, ={xpsr:#x}
    str r7, [sp, #28]
    bx lr
.thumb_func
irq1:
    adds r11, r11, #1
    mov r8, r4
    bx lr
.thumb_func
irq2:
    adds r10, r10, #1
    bx lr
"""


def forged_return(
    assemble: Callable[..., bytes], native: bool, xpsr: int, setup: str, target: str
) -> Machine:
    """Boot the program whose IRQ 0 handler returns to `target` with `xpsr`."""
    source = FORGED_RETURN.format(setup=setup, target=target, xpsr=xpsr)
    return boot(assemble(source), native=native)


@PATHS
def test_forged_it_state_load_not_repeated(assemble: Callable[..., bytes], native: bool) -> None:
    """The store in IT state pends IRQ 1, and the RDR load after it must pop one byte."""
    setup = f"ldr r3, ={RDR:#x}\n    movs r1, #1"
    target = """
    str r1, [r0]           @ STIR: pend IRQ 1
    adds r4, r4, #1
    ldrb r2, [r3]          @ RDR: pops one received byte
    adds r4, r4, #1
    isb
    bkpt #0
"""
    results = {}
    for xpsr in (PLAIN_XPSR, IT_AL_XPSR):
        machine = forged_return(assemble, native, xpsr, setup, target)
        machine.peripherals.usart2.inject(b"AB")
        assert machine.run(max_cycles=2_000).reason is RunReason.BREAKPOINT
        results[xpsr] = machine
    plain, forged = results[PLAIN_XPSR], results[IT_AL_XPSR]
    assert plain.reg_read("r2") == ord("A")
    assert forged.reg_read("r2") == ord("A")  # not "B": the load ran once
    assert forged.reg_read("r11") == 1
    assert forged._core.store_unverified == 0
    assert forged.cycles == plain.cycles


@PATHS
def test_forged_it_state_transmits_once(assemble: Callable[..., bytes], native: bool) -> None:
    """The store in IT state pends IRQ 1, and the TDR store after it must transmit once."""
    setup = ENABLE_USART2 + "    adds r3, r3, #0x28\n    movs r1, #1\n    movs r2, #0x41"
    target = """
    str r1, [r0]           @ STIR: pend IRQ 1
    adds r4, r4, #1
    strb r2, [r3]          @ TDR: "A"
    adds r4, r4, #1
    isb
    bkpt #0
"""
    for xpsr in (PLAIN_XPSR, IT_AL_XPSR):
        machine = forged_return(assemble, native, xpsr, setup, target)
        assert machine.run(max_cycles=2_000).reason is RunReason.BREAKPOINT
        assert bytes(machine.peripherals.usart2.output) == b"A", f"xPSR {xpsr:#x}"
        assert machine.reg_read("r11") == 1
        assert machine._core.store_unverified == 0, f"xPSR {xpsr:#x}"


@PATHS
def test_forged_it_state_keeps_next_store(assemble: Callable[..., bytes], native: bool) -> None:
    """The stop requested in IT state must not count the next block's store as done."""
    setup = "movs r1, #1\n    movs r2, #2"
    target = """
    str r1, [r0]           @ STIR: pend IRQ 1
    adds r4, r4, #1
    b next
    .balign 32
next:
    str r2, [r0]           @ STIR: pend IRQ 2
    adds r4, r4, #1
    isb
    bkpt #0
"""
    cycles = {}
    for xpsr in (PLAIN_XPSR, IT_AL_XPSR):
        machine = forged_return(assemble, native, xpsr, setup, target)
        assert machine.run(max_cycles=2_000).reason is RunReason.BREAKPOINT
        assert machine.reg_read("r11") == 1, f"xPSR {xpsr:#x}"
        assert machine.reg_read("r10") == 1, f"xPSR {xpsr:#x}: IRQ 2 never pended"
        assert machine.reg_read("r4") == 2
        cycles[xpsr] = machine.cycles
    assert cycles[IT_AL_XPSR] == cycles[PLAIN_XPSR]


# IT blocks: the stop is declined and the exception waits for the end of
# the block (documented), with the store made once.


@PATHS
@pytest.mark.parametrize("store_in_it", [False, True], ids=["after-it", "last-in-it"])
def test_it_block_across_page_boundary(
    assemble: Callable[..., bytes], native: bool, store_in_it: bool
) -> None:
    """ITTTT of 32-bit instructions: the block at the 1 KiB boundary starts 14 bytes after IT.

    Unicorn defers a stop inside an IT block, so only a store that is not
    in it may stop right after itself.
    """
    fourth = "streq.w r1, [r0]" if store_in_it else "addeq.w r4, r4, #1"
    tail = "" if store_in_it else "str r1, [r0]"
    source = f"""
.thumb_func
reset:
    {START}
    b start
    .ltorg
    .org 0x3f0
start:
    cmp r0, r0
    itttt eq               @ at 0x3f2
    addeq.w r4, r4, #1
    addeq.w r4, r4, #1
    addeq.w r4, r4, #1
    {fourth}               @ at 0x400, a new block
    {tail}
{AFTER}
"""
    image = assemble(source)
    assert image[0x3F2 + 1] == 0xBF  # IT where intended
    machine = boot(image, native=native)
    if store_in_it:
        # The first run adds the stop hook after the IT block (the exception
        # waits for the block end once). The store is the IT block's last
        # instruction: from then on the hook stops before the next one.
        machine.run(max_cycles=2_000)
        assert machine._core.it_exit_count == 1
        machine.reset()
    assert machine.run(max_cycles=2_000).reason is RunReason.BREAKPOINT
    assert machine.reg_read("r11") == 1
    if store_in_it:
        assert machine.reg_read("r8") == 3
        assert machine._core.store_stops == 0
    else:
        # Decoding from the IT shows that it covers only the block's first
        # instruction, so the store after it stops at once.
        assert machine.reg_read("r8") == 4
        assert machine._core.store_stops == 1
    assert machine.reg_read("r4") == (3 if store_in_it else 4) + 3
    assert machine._core.store_unverified == 0


@PATHS
def test_return_into_it_block_then_store(assemble: Callable[..., bytes], native: bool) -> None:
    """SVC inside an IT block: the return lands mid-block, then a store pends IRQ 0."""
    source = f"""
.thumb_func
reset:
    {START}
    cmp r0, r0
    itt eq
    svceq #0
    addeq r4, r4, #1       @ the SVCall handler returns here
    str r1, [r0]           @ STIR: pend IRQ 0
{AFTER}
"""
    results = []
    for slice_cycles in (2_000, 3):
        machine = boot(assemble(source), native=native)
        run_to_bkpt(machine, slice_cycles=slice_cycles)
        assert machine.reg_read("r11") == 1
        assert machine.reg_read("r4") == 4
        assert machine.reg_read("r8") == 4  # the block starts 4 bytes after IT: taken at its end
        assert machine._core.store_stops == 0
        assert machine._core.store_unverified == 0
        results.append(machine.cycles)
    assert results[0] == results[1]


# Code location: SRAM, page ends, the translator's instruction limit.


@PATHS
@pytest.mark.parametrize("destination", [0x2000_0000, 0x2000_03FC, 0x2004_0000])
def test_store_in_sram_code(assemble: Callable[..., bytes], native: bool, destination: int) -> None:
    """The routine is copied to SRAM; 0x200003FC puts the store last before a 1 KiB boundary."""
    source = f"""
.thumb_func
reset:
    {ENABLE_IRQ0}
    {copy_blob(destination)}
    {READY}
    ldr r2, ={destination + 1:#x}
    blx r2
    isb
    bkpt #0
    .ltorg
    .balign 4
blob:
    nop
    str r1, [r0]
    adds r4, r4, #1
    adds r4, r4, #1
    adds r4, r4, #1
    bx lr
    .balign 4
blob_end:
"""
    machine = launch(assemble(source), native=native, cycles=5_000)
    assert machine.reg_read("r11") == 1
    assert machine.reg_read("r8") == 0
    assert machine.reg_read("r9") == destination + 4
    assert machine.reg_read("r4") == 3
    assert machine._core.store_stops == 1
    assert machine._core.store_unverified == 0


# (offset of the store from the flash base, the store, ADDS before it, their width)
PLACEMENTS = {
    "16-bit-last-in-page": (0x3FE, "str r1, [r0]", 2, ""),
    "32-bit-last-in-page": (0x3FC, "str.w r1, [r6, #0xf00]", 2, ""),
    "32-bit-across-page": (0x3FE, "str.w r1, [r6, #0xf00]", 2, ""),
    "first-in-page": (0x400, "str r1, [r0]", 2, ""),
    "after-362-adds": (0x1000, "str r1, [r0]", 362, ""),
    "after-363-adds": (0x1000, "str r1, [r0]", 363, ""),
    "after-364-adds": (0x1000, "str r1, [r0]", 364, ""),
    "after-300-wide-adds": (0x1000, "str r1, [r0]", 300, ".w"),
}


@PATHS
@pytest.mark.parametrize("placement", sorted(PLACEMENTS))
def test_store_placement(assemble: Callable[..., bytes], native: bool, placement: str) -> None:
    """Stores at and across 1 KiB boundaries, and after runs near the translator's block limit."""
    offset, store, count, width = PLACEMENTS[placement]
    start = offset - count * (4 if width else 2)
    source = f"""
.thumb_func
reset:
    {ENABLE_IRQ0}
    movs r4, #0
    movs r7, #0
    movs r11, #0
    ldr r0, =0xE000EF00
    ldr r6, =0xE000E000
    movs r1, #0
    b start
    .ltorg
    .org {start:#x}
start:
    .rept {count}
    adds{width} r7, r7, #1
    .endr
    {store}
{AFTER}
"""
    image = assemble(source)
    first = struct.unpack_from("<H", image, offset)[0]
    assert first in (0x6001, 0xF8C6)  # the store sits where intended
    machine = launch(image, native=native, cycles=5_000)
    check_entry(machine, image)
    assert machine._core.store_stops == 1
    assert machine._core.store_unverified == 0


# Stop hooks after IT blocks are added only where a store in the IT block
# pended an exception, and at most IT_EXITS of them: Unicorn walks every
# code hook on each hooked instruction it runs.
MANY_SITES = f"""
.thumb_func
reset:
    {ENABLE_IRQ0}
    movs r4, #0
    movs r11, #0
    ldr r0, =0xE000E200    @ ISPR0
    movs r1, #1
    movs r2, #0
    .rept {{sites}}
    cmp r2, #{{pend}}
    it eq
    streq r1, [r0]
    adds r4, r4, #1
    b 1f
1:
    .endr
    bkpt #0
"""


@PATHS
@pytest.mark.parametrize(("sites", "pend"), [(70, 0), (200, 1)], ids=["pending", "idle"])
def test_it_exit_hooks_bounded(
    assemble: Callable[..., bytes], native: bool, sites: int, pend: int
) -> None:
    machine = launch(
        assemble(MANY_SITES.format(sites=sites, pend=pend)), native=native, cycles=100_000
    )
    assert machine.reg_read("r4") == sites
    if pend == 0:
        assert machine.reg_read("r11") == sites  # every site pended IRQ 0 once
        assert machine._core.it_exit_count == _native.IT_EXITS
    else:
        assert machine.reg_read("r11") == 0
        assert machine._core.it_exit_count == 0  # no store ran: no hook
    assert machine._core.store_unverified == 0
