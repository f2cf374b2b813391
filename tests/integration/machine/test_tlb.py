"""The machine's TLB fill policy: fast stores to SRAM, exact IT state, self-modifying code."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import SimpleNamespace

import pytest
from unicorn import UC_MEM_FETCH, UC_MEM_READ, UC_MEM_WRITE, UC_PROT_ALL, UC_PROT_EXEC

from openvisor.machine import FaultKind, Machine, RunReason

VECTORS = """
.word 0x20080000
.word reset + 1
.thumb_func
reset:
"""


def _run_to_sleep(machine: Machine, max_cycles: int) -> float:
    """Run to the image's final WFI; return the CPU time it took."""
    start = time.process_time()
    result = machine.run(max_cycles=max_cycles)
    elapsed = time.process_time() - start
    assert result.reason is RunReason.SLEEP, result.fault
    return elapsed


@pytest.mark.parametrize(
    ("access", "setup"),
    [
        ("ldreq r1, [r2]", ""),
        ("streq r3, [r2]", ""),
        ("ldreq r1, [r2]", "ldr r1, [r2, #4]"),  # page filled before the IT block
    ],
)
def test_it_block_access_keeps_it_state(
    assemble: Callable[[str], bytes], access: str, setup: str
) -> None:
    """An access inside an IT block that fills a TLB entry leaves no IT state behind.

    Unicorn 2.1.4 restores the accessing instruction's IT state before it
    calls the fill hook; unless the hook clears it, the block after the IT
    block runs as if it were still inside it and skips `movs r5, #1`.
    """
    machine = Machine()
    machine.load_image(
        assemble(
            VECTORS
            + f"""
    ldr r2, =0x20004000
    movs r3, #7
    {setup}
    movs r0, #1
    cmp r0, #1
    ite eq
    {access}
    movne r1, #5
    adds r4, r4, #1
    b next
next:
    movs r5, #1
    cmp r5, #2
    movs r6, #9
    wfi
.ltorg
"""
        )
    )
    machine.reset()
    _run_to_sleep(machine, 1_000)
    assert machine.reg_read("r4") == 1
    assert machine.reg_read("r5") == 1
    assert machine.reg_read("r6") == 9
    assert machine.reg_read("r1") != 5  # the EQ branch of the IT block ran


def test_sram_code_rewritten_runs_new_code(assemble: Callable[[str], bytes]) -> None:
    """Code copied to SRAM, run, overwritten and run again returns the new result."""
    machine = Machine()
    machine.load_image(
        assemble(
            VECTORS
            + """
    ldr r4, =0x20002000
    ldr r5, =0x47702001   @ movs r0, #1; bx lr
    ldr r6, =0x47702002   @ movs r0, #2; bx lr
    str r5, [r4]
    dsb
    isb
    adds r7, r4, #1
    blx r7
    mov r8, r0
    str r6, [r4]
    dsb
    isb
    blx r7
    mov r9, r0
    wfi
.ltorg
"""
        )
    )
    machine.reset()
    _run_to_sleep(machine, 1_000)
    assert machine.reg_read("r8") == 1
    assert machine.reg_read("r9") == 2


@pytest.mark.parametrize("target", [0x0000_0000, 0x0000_0002, 0x4000_4404, 0xE000_E000])
def test_fetch_outside_code_regions_faults(assemble: Callable[[str], bytes], target: int) -> None:
    """A branch to a never-executable address ends the app with a fetch fault there.

    Address 0 is also the run loop's end address for `uc_emu_start`: a
    fetch from it must fault before Unicorn takes it for the end of the run.
    """
    machine = Machine()
    machine.load_image(
        assemble(
            VECTORS
            + f"""
    ldr r0, ={target | 1:#x}
    bx r0
.ltorg
"""
        )
    )
    machine.reset()
    result = machine.run(max_cycles=1_000)
    assert result.reason is RunReason.CRASH
    assert result.fault is not None
    assert result.fault.kind is FaultKind.MEMORY
    assert result.fault.access == "fetch"
    assert result.fault.address == target
    assert result.fault.pc == target


def test_data_fill_of_code_page_keeps_execute() -> None:
    """A page that code was fetched from keeps execute for data accesses (stores stay checked)."""
    machine = Machine()
    tlb = machine.tlb
    entry = SimpleNamespace(paddr=0, perms=0)
    page = 0x2000_3000

    assert tlb._fill(machine._uc, page, UC_MEM_WRITE, entry, None)
    assert entry.paddr == page
    assert not entry.perms & UC_PROT_EXEC

    assert tlb._fill(machine._uc, page, UC_MEM_FETCH, entry, None)
    assert entry.perms == UC_PROT_ALL

    assert tlb._fill(machine._uc, page, UC_MEM_READ, entry, None)
    assert entry.perms == UC_PROT_ALL


def _loop_image(assemble: Callable[[str], bytes], body: str, rounds: int) -> bytes:
    return assemble(
        VECTORS
        + f"""
    ldr r0, ={rounds}
    ldr r2, =0x20001000
    movs r1, #0
loop:
    {body}
    adds r1, r1, #1
    subs r0, r0, #1
    bne loop
    wfi
.ltorg
"""
    )


def test_sram_store_costs_like_alu_instruction(assemble: Callable[[str], bytes]) -> None:
    """A store to SRAM takes Unicorn's fast path, not notdirty_write on every store.

    On the slow path a store costs about ten times an ALU instruction;
    on the fast path well under twice. CPU times of the two loops are
    compared within this process, best of three, so load from other
    processes affects both alike.
    """
    rounds = 2_000_000
    store = _loop_image(assemble, "str r1, [r2]", rounds)
    alu = _loop_image(assemble, "adds r3, r3, r1", rounds)
    store_times = []
    alu_times = []
    for _ in range(3):
        for image, times in ((store, store_times), (alu, alu_times)):
            machine = Machine()
            machine.load_image(image)
            machine.reset()
            times.append(_run_to_sleep(machine, 5 * rounds + 1_000))
            assert machine.reg_read("r1") == rounds
            if image is store:
                assert machine.read_word(0x2000_1000) == rounds - 1
    ratio = min(store_times) / min(alu_times)
    assert ratio < 4, f"store loop {min(store_times):.3f} s, ALU loop {min(alu_times):.3f} s"
