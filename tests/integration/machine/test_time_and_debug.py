"""Virtual time is exact and slice-independent; pacing, idling and debugging."""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

import pytest

from openvisor.machine import Machine, Pacing, RunReason, RunResult

RunUntil = Callable[..., RunResult]


def _run_in_slices(machine: Machine, slice_cycles: int, stop_line: str) -> int:
    """Run in fixed slices until `stop_line`; return the cycle count when it was printed."""
    printed: list[int] = []
    machine.peripherals.on_console(
        lambda source, line: printed.append(machine.cycles) if line == stop_line else None
    )
    for _ in range(100_000):
        machine.run(max_cycles=slice_cycles)
        if printed:
            return printed[0]
    raise AssertionError(f"{stop_line!r} was not printed")


@pytest.mark.parametrize(
    ("image", "line"), [("bm_blink", "blink done"), ("bm_hal_init", "hal init done")]
)
def test_time_independent_of_slices(boot: Callable[..., Machine], image: str, line: str) -> None:
    observed = []
    for slice_cycles in (7_777, 1_000_003, 400_000_000):
        machine = boot(image)
        done_at = _run_in_slices(machine, slice_cycles, line)
        events = [(e.port, e.pin, e.level, e.cycle) for e in machine.peripherals.gpio_events]
        observed.append((done_at, machine.peripherals.console, events))
    assert observed[0] == observed[1]
    assert observed[0] == observed[2]


def test_scheduler_time_independent_of_slices(boot: Callable[..., Machine]) -> None:
    first = boot("bm_scheduler")
    done_first = _run_in_slices(first, 400_000_000, "scheduler done")
    second = boot("bm_scheduler")
    done_second = _run_in_slices(second, 99_991, "scheduler done")
    assert done_first == done_second
    assert first.peripherals.console == second.peripherals.console


def test_idle_core_costs_no_cpu(boot: Callable[..., Machine], run_until_line: RunUntil) -> None:
    machine = boot("bm_blink")
    run_until_line(machine, "blink done")
    start_cpu = time.process_time()
    start_cycles = machine.cycles
    result = machine.run(max_cycles=10 * 160_000_000)  # 10 s of virtual time asleep
    cpu = time.process_time() - start_cpu
    assert result.reason is RunReason.SLEEP
    assert machine.cycles - start_cycles == 10 * 160_000_000
    assert cpu < 0.1, cpu


def test_realtime_pacing_follows_wall_clock(boot: Callable[..., Machine]) -> None:
    machine = boot("bm_blink", pacing=Pacing.REALTIME)
    start = time.monotonic()
    start_cpu = time.process_time()
    machine.run(max_cycles=160_000_000 // 4)  # 250 ms virtual
    wall = time.monotonic() - start
    cpu = time.process_time() - start_cpu
    assert wall >= 0.24, wall
    assert wall < 2.0, wall
    # The core sleeps between SysTick interrupts, so pacing waits instead of spinning.
    assert cpu < wall / 2, (cpu, wall)


def test_fast_pacing_runs_ahead(boot: Callable[..., Machine]) -> None:
    machine = boot("bm_blink")
    start = time.monotonic()
    machine.run(max_cycles=160_000_000)  # 1 s virtual
    assert time.monotonic() - start < 0.9


def test_breakpoints_keep_time_exact(boot: Callable[..., Machine]) -> None:
    reference = boot("bm_blink")
    reference.run(max_cycles=80_000_000)
    machine = boot("bm_blink")
    handler = machine.symbols.by_name["SysTick_Handler"]
    machine.add_breakpoint(handler)
    hits = 0
    while machine.cycles < 80_000_000:
        result = machine.run(max_cycles=80_000_000 - machine.cycles)
        if result.reason is not RunReason.BREAKPOINT:
            break
        hits += 1
        assert result.address == handler
        assert machine.pc == handler
        assert machine.current_exception() == 15
    assert hits == 6
    reference_events = [(e.level, e.cycle) for e in reference.peripherals.gpio_events]
    events = [(e.level, e.cycle) for e in machine.peripherals.gpio_events]
    assert events == reference_events
    assert machine.peripherals.console == reference.peripherals.console


def test_breakpoint_removed_stops_hitting(boot: Callable[..., Machine]) -> None:
    machine = boot("bm_blink")
    handler = machine.symbols.by_name["SysTick_Handler"]
    machine.add_breakpoint(handler)
    assert machine.run(max_cycles=80_000_000).reason is RunReason.BREAKPOINT
    machine.remove_breakpoint(handler)
    result = machine.run(max_cycles=80_000_000)
    assert result.reason is RunReason.SLEEP
    assert machine.peripherals.console[-1] == "blink done"


def test_step_executes_one_instruction(boot: Callable[..., Machine]) -> None:
    machine = boot("bm_blink")
    entry = machine.pc
    cycles = machine.cycles
    result = machine.step()
    assert result.reason is RunReason.STEP
    assert result.cycles == 1
    assert machine.cycles == cycles + 1
    assert machine.pc in (entry + 2, entry + 4)
    for _ in range(50):
        assert machine.step().reason is RunReason.STEP
    assert machine.cycles == cycles + 51


# A hang inside Unicorn keeps the signal method from ever firing.
@pytest.mark.timeout(60, method="thread")
def test_step_after_run_advances_through_cached_code(boot: Callable[..., Machine]) -> None:
    """Stepping into code that a run already translated executes one instruction."""
    machine = boot("g_debug")
    assert machine.run(max_cycles=100_000).reason is RunReason.BUDGET
    counter = machine.symbols.by_name["counter"]
    main = machine.symbols.by_name["main"]
    counter_before = struct.unpack("<I", machine.mem_read(counter, 4))[0]
    in_main = 0
    for _ in range(2_000):
        pc = machine.pc
        cycles = machine.cycles
        result = machine.step()
        assert result.reason is RunReason.STEP, result
        assert machine.pc != pc, f"step at {pc:#010x} did not advance"
        assert machine.cycles - cycles <= 1
        if main <= pc < main + 0x60:
            in_main += 1
    counter_after = struct.unpack("<I", machine.mem_read(counter, 4))[0]
    assert in_main > 100
    assert counter_after > counter_before


def test_watchpoint_stops_after_write(boot: Callable[..., Machine]) -> None:
    machine = boot("bm_blink")
    ticks = machine.symbols.by_name["ticks"]
    machine.add_watchpoint(ticks, 4, "write")
    # The first write is the startup code clearing .bss.
    result = machine.run(max_cycles=80_000_000)
    assert result.reason is RunReason.WATCHPOINT
    assert result.address == ticks
    assert int.from_bytes(machine.mem_read(ticks, 4), "little") == 0
    result = machine.run(max_cycles=80_000_000)
    assert result.reason is RunReason.WATCHPOINT
    assert result.address == ticks
    assert int.from_bytes(machine.mem_read(ticks, 4), "little") == 1
    # Stopped right after SysTick_Handler's write, before main printed the tick.
    assert machine.peripherals.console == ["blink start"]
    machine.remove_watchpoint(ticks, 4, "write")
    assert machine.run(max_cycles=80_000_000).reason is RunReason.SLEEP
    assert machine.peripherals.console[-1] == "blink done"


# Vector table with IRQ0 at irq0, and a reset handler that starts by setting
# NVIC_ISER0 bit 0.
IRQ0_PROLOGUE = """
.section .text
.thumb_func
vectors:
    .word 0x20080000
    .word reset
    .rept 14
    .word spin
    .endr
    .word irq0
.thumb_func
reset:
    ldr r0, =0xE000E100
    movs r1, #1
    str r1, [r0]
"""


IT_IMAGE = (
    IRQ0_PROLOGUE
    + """    movs r2, #0
    movs r5, #0
    cmp r0, r0
    itte eq
it_first:
    addeq r2, r2, #1
it_second:
    addeq r2, r2, #2
    addne r2, r2, #4
done:
    wfi
    b done
.thumb_func
irq0:
    movs r5, #1
    cmp r5, #2
    bx lr
.thumb_func
spin:
    b spin
.ltorg
"""
)


def test_interrupt_inside_it_block_resumes_it_state(assemble: Callable[[str], bytes]) -> None:
    image = assemble(IT_IMAGE)
    machine = Machine()
    machine.load_image(image)
    machine.reset()
    # ITTE EQ (0xBF06) then ADDEQ r2, #1 (0x3201): it_second follows them.
    it_second = 0x0800_0000 + image.index(bytes.fromhex("06bf0132")) + 4
    machine.add_breakpoint(it_second)
    assert machine.run(max_cycles=1000).reason is RunReason.BREAKPOINT
    assert machine.reg_read("xpsr") & 0x0600_FC00 != 0  # ITSTATE is live
    machine.remove_breakpoint(it_second)
    machine.pend_irq(0)
    result = machine.run(max_cycles=1000)
    assert result.reason is RunReason.SLEEP
    assert machine.reg_read("r5") == 1  # the handler ran, clobbering the flags
    # addeq(+2) runs, addne(+4) is skipped: IT state and flags came back.
    assert machine.reg_read("r2") == 3


def test_single_steps_through_it_block(assemble: Callable[[str], bytes]) -> None:
    machine = Machine()
    machine.load_image(assemble(IT_IMAGE))
    machine.reset()
    for _ in range(12):
        assert machine.step().reason is RunReason.STEP
    # Each step resumes with the IT state the previous one left behind.
    assert machine.reg_read("r2") == 3
    assert machine.reg_read("r5") == 0


STACK_LIMIT_IMAGE = """
.section .text
.thumb_func
vectors:
    .word 0x20080000
    .word reset
    .word spin
    .word hardfault
    .rept 12
    .word spin
    .endr
.thumb_func
reset:
    ldr r0, =0x20001000
    msr msplim, r0
    ldr r0, =0x20001010
    mov sp, r0
    push {r0-r7}
    b spin
.thumb_func
hardfault:
    b hardfault
.thumb_func
spin:
    b spin
.ltorg
"""


def test_stack_limit_violation_faults(assemble: Callable[[str], bytes]) -> None:
    machine = Machine()
    machine.load_image(assemble(STACK_LIMIT_IMAGE))
    machine.reset()
    machine.run(max_cycles=1_000)
    # UsageFault is disabled, so the STKOF fault escalates to HardFault.
    assert machine.current_exception() == 3
    assert machine.bus_read(0xE000_ED28) & (1 << 20)  # CFSR.STKOF
    assert machine.bus_read(0xE000_ED2C) & (1 << 30)  # HFSR.FORCED


DIVIDE_IMAGE = """
.section .text
.thumb_func
vectors:
    .word 0x20080000
    .word reset
    .rept 4
    .word spin
    .endr
    .word usagefault
    .rept 9
    .word spin
    .endr
.thumb_func
reset:
    movs r1, #0
    movs r2, #9
    sdiv r3, r2, r1
    ldr r0, =0xE000ED24
    ldr r4, =0x00040000
    str r4, [r0]
    ldr r0, =0xE000ED14
    movs r4, #0x10
    str r4, [r0]
    dsb
    isb
    movs r5, #1
    udiv r3, r2, r1
    movs r5, #2
    b spin
.thumb_func
usagefault:
    b usagefault
.thumb_func
spin:
    b spin
.ltorg
"""


def test_divide_by_zero_trap(assemble: Callable[[str], bytes]) -> None:
    machine = Machine()
    machine.load_image(assemble(DIVIDE_IMAGE))
    machine.reset()
    machine.run(max_cycles=1_000)
    # The first SDIV ran with DIV_0_TRP clear and returned 0; the UDIV trapped.
    assert machine.reg_read("r3") == 0
    assert machine.reg_read("r5") == 1
    assert machine.current_exception() == 6
    assert machine.bus_read(0xE000_ED28) & (1 << 25)  # CFSR.DIVBYZERO
    frame = machine.reg_read("sp")
    stacked_pc = int.from_bytes(machine.mem_read(frame + 24, 4), "little")
    assert machine.mem_read(stacked_pc, 2) == bytes.fromhex("b2fb")  # UDIV r3, r2, r1


MASKED_UNPRIVILEGED_IMAGE = (
    IRQ0_PROLOGUE
    + """    cpsid i
    movs r0, #1
    msr control, r0
    isb
    movs r2, #0
loop:
    adds r2, r2, #1
    b loop
.thumb_func
irq0:
    b irq0
.thumb_func
spin:
    b spin
.ltorg
"""
)


def test_masked_irq_in_unprivileged_thread_progresses(assemble: Callable[[str], bytes]) -> None:
    machine = Machine()
    machine.load_image(assemble(MASKED_UNPRIVILEGED_IMAGE))
    machine.reset()
    machine.run(max_cycles=100)
    machine.pend_irq(0)  # masked by PRIMASK, which unprivileged code cannot clear
    start = time.monotonic()
    result = machine.run(max_cycles=2_000_000)
    assert result.reason is RunReason.BUDGET
    assert time.monotonic() - start < 5.0
    assert machine.current_exception() == 0
    assert machine.reg_read("primask") == 1
    assert machine.reg_read("r2") > 900_000
