"""SysTick without TICKINT: CVR and COUNTFLAG come from the cycle count, at no cost per wrap."""

from __future__ import annotations

import time
from collections.abc import Callable

from openvisor.machine import Machine, RunReason

SYST_CSR = 0xE000_E010
SYST_CVR = 0xE000_E018
COUNTFLAG = 1 << 16


def _polled_systick_image(reload: int) -> str:
    """Start SysTick on the core clock with ``reload``, TICKINT off, then spin at ``spin``."""
    return f"""
.word 0x20001000
.word reset + 1
.thumb_func
reset:
    ldr r0, =0xE000E010
    ldr r1, ={reload}
    str r1, [r0, #4]
    movs r1, #0
    str r1, [r0, #8]
    movs r1, #5
    str r1, [r0]
.thumb_func
spin:
    b spin
.ltorg
"""


def _boot_to_spin(assemble: Callable[[str], bytes], reload: int) -> Machine:
    image = assemble(_polled_systick_image(reload))
    machine = Machine()
    machine.load_image(image)
    machine.reset()
    spin = 0x0800_0000 + image.index(bytes.fromhex("fee7"))
    machine.add_breakpoint(spin)
    assert machine.run(max_cycles=1000).reason is RunReason.BREAKPOINT
    machine.remove_breakpoint(spin)
    machine.run(max_cycles=100)
    return machine


def test_reload_one_without_tickint_runs_a_virtual_second_fast(
    assemble: Callable[[str], bytes],
) -> None:
    machine = _boot_to_spin(assemble, reload=1)
    machine.systick.read(0x0)  # clear COUNTFLAG
    start = machine.cycles
    started = time.monotonic()
    while machine.cycles - start < machine.clock_hz:
        machine.run(max_cycles=machine.clock_hz - (machine.cycles - start))
    elapsed = time.monotonic() - started

    assert machine.cycles - start == machine.clock_hz
    assert elapsed < 10.0, f"one virtual second of a reload-1 SysTick took {elapsed:.1f} s"
    assert machine.systick.read(0x0) & COUNTFLAG
    assert not machine.systick.read(0x0) & COUNTFLAG  # the read cleared it
    assert machine.systick.read(0x8) in (0, 1)


def test_countflag_sets_exactly_when_the_counter_reaches_zero(
    assemble: Callable[[str], bytes],
) -> None:
    machine = _boot_to_spin(assemble, reload=999)
    machine.systick.read(0x0)
    value = machine.systick.read(0x8)
    assert 0 < value <= 999

    before = machine.cycles
    machine.run(max_cycles=value - 1)
    ran = machine.cycles - before
    assert ran <= value - 1
    assert machine.systick.read(0x8) == value - ran
    assert not machine.systick.read(0x0) & COUNTFLAG

    machine.run(max_cycles=value - ran)
    assert machine.cycles - before == value
    assert machine.systick.read(0x8) == 0
    assert machine.systick.read(0x0) & COUNTFLAG
    # After the reload the counter runs from 999 down again, without a new flag.
    machine.run(max_cycles=500)
    assert machine.systick.read(0x8) == 999 - (machine.cycles - before - value - 1)
    assert not machine.systick.read(0x0) & COUNTFLAG
    # A write to CVR clears the counter and COUNTFLAG.
    machine.run(max_cycles=2000)
    machine.systick.write(0x8, 0)
    assert machine.systick.read(0x8) == 0
    assert not machine.systick.read(0x0) & COUNTFLAG
