"""Instruction counts of translated blocks: cached flash blocks and image reloads."""

from __future__ import annotations

from collections.abc import Callable

from openvisor.machine import Machine, RunReason

VECTORS = """
.section .text
vectors:
    .word 0x20080000
    .word reset
.thumb_func
reset:
"""

# The first block runs from reset through the first BNE (6 instructions),
# every later one from `loop` (4 instructions in 10 bytes, one of them 32-bit).
MIXED_LOOP = (
    VECTORS
    + """
    movs r0, #0
    movs r1, #0
loop:
    adds r0, #1
    add.w r1, r1, #3
    cmp r0, #200
    bne loop
spin:
    b spin
"""
)

# Two loops of one 10-byte block at the same address: three instructions
# (two 32-bit) in the first, five 16-bit ones in the second.
WIDE_LOOP = (
    VECTORS
    + """
    add.w r0, r0, #1
    add.w r1, r1, #1
    b.n reset
"""
)
NARROW_LOOP = (
    VECTORS
    + """
    adds r0, #1
    adds r1, #1
    adds r2, #1
    adds r3, #1
    b.n reset
"""
)


def _run_exactly(machine: Machine, cycles: int) -> None:
    result = machine.run(max_cycles=cycles)
    assert result.reason is RunReason.BUDGET
    assert result.cycles == cycles


def test_cached_flash_block_counts(assemble: Callable[[str], bytes]) -> None:
    machine = Machine()
    machine.load_image(assemble(MIXED_LOOP))
    for iterations in (1, 2, 50, 150):
        machine.reset()
        _run_exactly(machine, 2 + 4 * iterations)
        assert machine.reg_read("r0") == iterations
        assert machine.reg_read("r1") == 3 * iterations


def test_cached_block_counts_in_slices(assemble: Callable[[str], bytes]) -> None:
    machine = Machine()
    machine.load_image(assemble(MIXED_LOOP))
    machine.reset()
    # A budget ends at the first block boundary at or after it: block
    # boundaries fall at 6, 10, 14, ..., so 7-cycle slices end at 10, 18,
    # 26, ..., one of which is 482.
    while machine.cycles < 2 + 4 * 120:
        machine.run(max_cycles=7)
    assert machine.cycles == 2 + 4 * 120
    assert machine.reg_read("r0") == 120
    assert machine.reg_read("r1") == 360


def test_reload_forgets_block_counts(assemble: Callable[[str], bytes]) -> None:
    machine = Machine()
    machine.load_image(assemble(WIDE_LOOP))
    machine.reset()
    _run_exactly(machine, 3 * 40)
    assert machine.reg_read("r0") == 40

    machine.load_image(assemble(NARROW_LOOP))
    machine.reset()
    for register in ("r0", "r1", "r2", "r3"):
        machine.reg_write(register, 0)
    _run_exactly(machine, 5 * 40)
    assert machine.reg_read("r0") == 40
    assert machine.reg_read("r3") == 40
