"""Masks, unprivileged code, nesting, tail-chaining and priority changes around a pending store."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from openvisor.machine import Machine

from .programs import (
    AFTER,
    ENABLE_IRQ49,
    IRQ1_LOG,
    MARKERS,
    PATHS,
    START,
    address_of,
    launch,
    log,
    pend_logged,
)

# Unprivileged Thread code pends TIM6 (IRQ 49, priority 0x40) through
# EGR.UG while a mask set before dropping privilege still blocks it.
MASKS = {
    "primask": "cpsid i",
    "basepri": "movs r3, #0x20\n    msr basepri, r3",
    "faultmask": "cpsid f",
}


@PATHS
@pytest.mark.parametrize("mask", sorted(MASKS))
def test_unprivileged_masked_pend_not_taken(
    assemble: Callable[..., bytes], native: bool, mask: str
) -> None:
    source = f"""
.thumb_func
reset:
    ldr r3, =0xE000E431
    movs r5, #0x40
    strb r5, [r3]          @ IPR: IRQ 49 priority 0x40
    {ENABLE_IRQ49}
    ldr r3, =0x4000100C
    movs r5, #1
    str r5, [r3]           @ TIM6 DIER.UIE
    movs r4, #0
    movs r11, #0
    {MASKS[mask]}
    movs r3, #1
    msr control, r3        @ unprivileged
    isb
    ldr r0, =0x40001014
    movs r1, #1
    str r1, [r0]           @ TIM6 EGR.UG: IRQ 49 pends, masked
{AFTER}
"""
    machine = launch(assemble(source), native=native)
    assert machine.reg_read("r11") == 0
    assert machine.reg_read("r4") == 3
    # Unicorn reads the masks as zero in unprivileged Thread mode, so the
    # store may stop; the entry then checks the real masks and declines.
    assert machine._core.store_unverified == 0


# Preemption order: nesting, tail-chaining, masks, priority changes.


def read_log(machine: Machine, count: int) -> list[int]:
    """Return the words the program appended at 0x20001000."""
    return list(struct.unpack(f"<{count}I", machine.mem_read(0x2000_1000, 4 * count)))


@PATHS
def test_nested_and_tail_chained(assemble: Callable[..., bytes], native: bool) -> None:
    """IRQ 0 (0x80) pends IRQ 1 (0x40), which nests at once, and IRQ 2 (0xC0), which waits."""
    source = f"""
.thumb_func
reset:
    @ IRQ 0 0x80, IRQ 1 0x40, IRQ 2 0xC0
    {pend_logged(0x00C0_4080, 7, log(0x10))}
.thumb_func
irq:
    {log(0x01)}
    movs r1, #1
    str r1, [r0]           @ IRQ 1 preempts
    {log(0x02)}
    movs r1, #2
    str r1, [r0]           @ IRQ 2 is taken after IRQ 0 returns
    {log(0x03)}
    bx lr
{IRQ1_LOG}
.thumb_func
irq2:
    {log(0x21)}
    bx lr
"""
    machine = launch(assemble(source), native=native)
    assert read_log(machine, 7) == [0x01, 0x11, 0x02, 0x03, 0x21, 0x10, 0]
    assert machine._core.store_stops == 2
    assert machine._core.store_unverified == 0


@PATHS
def test_own_priority_store_lets_pending_preempt(
    assemble: Callable[..., bytes], native: bool
) -> None:
    """IRQ 0 lowers its own priority below that of the pending IRQ 1, which preempts at once."""
    source = f"""
.thumb_func
reset:
    @ IRQ 0 and IRQ 1: 0x40
    {pend_logged(0x4040, 3)}
.thumb_func
irq:
    {log(0x01)}
    movs r1, #1
    str r1, [r0]           @ IRQ 1: same priority, waits
    {log(0x02)}
    ldr r3, =0xE000E400
    movs r5, #0x80
    strb r5, [r3]          @ IRQ 0 priority 0x80
    {log(0x03)}
    bx lr
{IRQ1_LOG}
"""
    machine = launch(assemble(source), native=native)
    assert read_log(machine, 5) == [0x01, 0x02, 0x11, 0x03, 0]
    assert machine._core.store_unverified == 0


@PATHS
def test_same_group_pend_waits(assemble: Callable[..., bytes], native: bool) -> None:
    """PRIGROUP 5: IRQ 1 (0x40) has IRQ 0's (0x60) group priority, so it only tail-chains."""
    source = f"""
.thumb_func
reset:
    ldr r3, =0xE000ED0C
    ldr r5, =0x05FA0500    @ AIRCR: PRIGROUP 5, group priority in bits 7:6
    str r5, [r3]
    @ IRQ 0 0x60, IRQ 1 0x40
    {pend_logged(0x4060, 3)}
.thumb_func
irq:
    {log(0x01)}
    movs r1, #1
    str r1, [r0]           @ IRQ 1
    {log(0x02)}
    bx lr
{IRQ1_LOG}
"""
    machine = launch(assemble(source), native=native)
    assert read_log(machine, 4) == [0x01, 0x02, 0x11, 0]
    assert machine._core.store_stops == 1  # the store in Thread mode only


UNMASKS = {
    # (mask, unmask): IRQ 0 has priority 0x40.
    "basepri": ("movs r3, #0x40\n    msr basepri, r3", "movs r3, #0\n    msr basepri, r3"),
    "basepri-max": ("movs r3, #0x20\n    msr basepri_max, r3", "movs r3, #0\n    msr basepri, r3"),
    "faultmask": ("cpsid f", "cpsie f"),
}


@PATHS
@pytest.mark.parametrize("mask", sorted(UNMASKS))
def test_masked_pend_taken_at_unmask(
    assemble: Callable[..., bytes], native: bool, mask: str
) -> None:
    masking, unmasking = UNMASKS[mask]
    source = f"""
.thumb_func
reset:
    ldr r3, =0xE000E400
    movs r5, #0x40
    strb r5, [r3]          @ IRQ 0 priority 0x40
    {START}
    {masking}
    isb
    str r1, [r0]           @ STIR: masked
    adds r4, r4, #1
    adds r4, r4, #1
    {unmasking}
unmasked:
{AFTER}
"""
    image = assemble(source)
    machine = launch(image, native=native)
    assert machine.reg_read("r11") == 1
    assert machine.reg_read("r8") == 2
    assert machine.reg_read("r9") == address_of(image, MARKERS)
    assert machine._core.store_stops == 0
