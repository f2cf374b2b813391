"""Measure the host cost of exception entry and return on the emulated Cortex-M33.

Each case runs on the native exception path (the default) and on the
Python exception model (``Machine._native_exceptions = False``):

1. SysTick round trip: SysTick every 1,000 cycles, a handler that only
   returns, and a Thread-mode loop. The cost per exception is the CPU
   time of the run minus that of the same loop with SysTick off, divided
   by the number of ticks. The same image with a 1 kHz tick (160,000
   cycles) gives the ratio of virtual to wall time.
2. PendSV context switch: SysTick every 2,000 cycles pends PendSV, which
   switches two threads on PSP that keep FP state live (extended frames,
   S16-S31 saved by the handler). The cost per switch counts both
   exceptions. ``bm_scheduler`` (1 ms tick) gives the ratio for a real image.
3. IRQ floods: TIM6 update interrupts at 100 kHz virtual (the handler
   clears SR.UIF), and a Thread-mode loop that writes NVIC STIR, each
   write taking IRQ0 at once.

Costs per exception are process CPU time. Ratios are virtual time over
wall time and over CPU time: on a shared host the wall figure includes the
time other processes held the CPUs.

Usage: ``.venv/bin/python benchmarks/bench_exceptions.py [--seconds S]``
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

from bench_machine import _assemble

from openvisor.machine import Machine, RunReason

ROOT = Path(__file__).resolve().parent.parent
CLOCK_HZ = 160_000_000

HEADER = """
.syntax unified
.thumb
.cpu cortex-m33
.fpu fpv5-sp-d16
.section .text
vectors:
    .word 0x20080000
    .word reset + 1
    .rept 12
    .word spin + 1
    .endr
    .word pendsv + 1
    .word systick + 1
    .word irq0 + 1
    .rept 48
    .word spin + 1
    .endr
    .word tim6 + 1
.thumb_func
spin:
    b spin
"""

# Thread loop with SysTick (RVR = PERIOD - 1) when ENABLE is 7, off when 0.
SYSTICK = """
.thumb_func
reset:
    ldr r1, =0xE000E014
    ldr r2, =PERIOD - 1
    str r2, [r1]
    ldr r1, =0xE000E010
    movs r2, #ENABLE
    str r2, [r1]
loop:
    adds r5, r5, #1
    b loop
.thumb_func
systick:
    adds r6, r6, #1
    bx lr
.thumb_func
pendsv:
.thumb_func
irq0:
.thumb_func
tim6:
    bx lr
.ltorg
"""

# Two threads on PSP with live FP registers. SysTick pends PendSV, which
# saves R4-R11 and, for extended frames, S16-S31 and switches stacks.
CONTEXT_SWITCH = """
.thumb_func
reset:
    ldr r1, =0xE000ED88
    ldr r2, [r1]
    orr r2, r2, #0x00F00000
    str r2, [r1]
    dsb
    isb
    ldr r1, =0xE000ED20
    ldr r2, =0xE0F00000
    str r2, [r1]
    ldr r0, =0x20010000
    ldr r1, =0x01000000
    str r1, [r0, #-4]!
    ldr r1, =thread + 1
    str r1, [r0, #-4]!
    movs r1, #0
    movs r2, #6
1:  str r1, [r0, #-4]!
    subs r2, r2, #1
    bne 1b
    ldr r1, =0xFFFFFFBC
    str r1, [r0, #-4]!
    movs r2, #8
2:  str r1, [r0, #-4]!
    subs r2, r2, #1
    bne 2b
    ldr r7, =0x20000000
    str r0, [r7, #4]
    ldr r1, =0x20020000
    msr psp, r1
    movs r1, #2
    msr control, r1
    isb
    ldr r1, =0xE000E014
    ldr r2, =1999
    str r2, [r1]
    ldr r1, =0xE000E010
    movs r2, #7
    str r2, [r1]
.thumb_func
thread:
    vmov.f32 s16, #1.0
3:  vadd.f32 s0, s0, s16
    adds r5, r5, #1
    b 3b
.thumb_func
systick:
    ldr r1, =0xE000ED04
    ldr r2, =0x10000000
    str r2, [r1]
    bx lr
.thumb_func
pendsv:
    mrs r0, psp
    tst lr, #0x10
    it eq
    vstmdbeq r0!, {s16-s31}
    stmdb r0!, {r4-r11, lr}
    ldr r1, =0x20000000
    ldr r2, [r1]
    adds r2, r2, #1
    str r2, [r1]
    ldr r2, [r1, #4]
    str r0, [r1, #4]
    mov r0, r2
    ldmia r0!, {r4-r11, lr}
    tst lr, #0x10
    it eq
    vldmiaeq r0!, {s16-s31}
    msr psp, r0
    bx lr
.thumb_func
irq0:
.thumb_func
tim6:
    bx lr
.ltorg
"""

# TIM6 update at 100 kHz (PSC 0, ARR 1599 at 160 MHz), IRQ 49.
TIM6_FLOOD = """
.thumb_func
reset:
    ldr r1, =0xE000E104
    ldr r2, =0x00020000
    str r2, [r1]
    ldr r1, =0x40001000
    movs r2, #0
    str r2, [r1, #0x28]
    ldr r2, =1599
    str r2, [r1, #0x2C]
    movs r2, #1
    str r2, [r1, #0x0C]
    str r2, [r1]
loop:
    adds r5, r5, #1
    b loop
.thumb_func
tim6:
    ldr r1, =0x40001000
    movs r2, #0
    str r2, [r1, #0x10]
    adds r6, r6, #1
    bx lr
.thumb_func
systick:
.thumb_func
pendsv:
.thumb_func
irq0:
    bx lr
.ltorg
"""

# IRQ0 pended through NVIC STIR in a loop, with a handler that counts entries.
STIR_FLOOD = """
.thumb_func
reset:
    ldr r1, =0xE000E100
    movs r2, #1
    str r2, [r1]
    ldr r1, =0xE000EF00
    movs r2, #0
loop:
    str r2, [r1]
    adds r5, r5, #1
    b loop
.thumb_func
irq0:
    adds r6, r6, #1
    bx lr
.thumb_func
systick:
.thumb_func
pendsv:
.thumb_func
tim6:
    bx lr
.ltorg
"""


def assemble(workdir: Path, name: str, source: str) -> Path:
    """Build a Thumb image at 0x0800_0000 from assembler source and return the ELF path."""
    return _assemble(workdir, name, HEADER + source)


def timed_run(elf: Path, cycles: int, *, native: bool) -> tuple[Machine, float, float]:
    """Boot `elf` and run it for `cycles`, returning the machine, CPU and wall seconds."""
    machine = Machine()
    machine._native_exceptions = native
    machine.load_elf(elf)
    machine.reset()
    cpu = time.process_time()
    wall = time.perf_counter()
    result = machine.run(max_cycles=cycles)
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    if result.reason is not RunReason.BUDGET:
        raise SystemExit(f"{elf.name} stopped early: {result.reason} {result.fault}")
    return machine, cpu, wall


def per_exception(
    elf: Path, baseline: Path, cycles: int, *, native: bool, register: str
) -> tuple[float, int]:
    """Return (host µs per exception above the baseline loop, exception count)."""
    machine, cpu, _ = timed_run(elf, cycles, native=native)
    _, base_cpu, _ = timed_run(baseline, cycles, native=native)
    count = machine.reg_read(register) if register != "mem" else machine.read_word(0x2000_0000)
    count = count or 0
    return (cpu - base_cpu) / max(count, 1) * 1e6, count


def scheduler_ratio(native: bool) -> tuple[float, float, float]:
    """Run bm_scheduler to its last line and return (virtual s, CPU s, wall s)."""
    machine = Machine()
    machine._native_exceptions = native
    machine.load_elf(ROOT / "firmware" / "build" / "bm_scheduler.elf")
    machine.reset()

    def stop(source: str, text: str) -> None:
        if text == "scheduler done":
            machine.request_stop()

    machine.peripherals.on_console(stop)
    cpu = time.process_time()
    wall = time.perf_counter()
    result = machine.run(max_cycles=2_000_000_000)
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    if result.reason is not RunReason.STOP:
        raise SystemExit(f"bm_scheduler did not finish: {result.reason} {result.fault}")
    return machine.cycles / CLOCK_HZ, cpu, wall


def ratios(virtual: float, wall: float, cpu: float) -> str:
    """Format virtual time over wall and over CPU time."""
    return f"{virtual / wall:.2f} wall / {virtual / cpu:.2f} CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=0.05, help="virtual seconds per flood run (default 0.05)"
    )
    args = parser.parse_args()
    cycles = int(args.seconds * CLOCK_HZ)
    subprocess.run(["make", "-C", str(ROOT / "firmware"), "-s"], check=True)
    print(
        f"host: {platform.processor() or platform.machine()}, nproc {os.cpu_count()}, "
        f"load {os.getloadavg()[0]:.1f}, Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory() as temporary:
        workdir = Path(temporary)
        tick = assemble(workdir, "tick", SYSTICK.replace("PERIOD", "1000").replace("ENABLE", "7"))
        tick_1khz = assemble(
            workdir, "tick1k", SYSTICK.replace("PERIOD", "160000").replace("ENABLE", "7")
        )
        idle = assemble(workdir, "idle", SYSTICK.replace("PERIOD", "1000").replace("ENABLE", "0"))
        switch = assemble(workdir, "switch", CONTEXT_SWITCH)
        tim6 = assemble(workdir, "tim6", TIM6_FLOOD)
        stir = assemble(workdir, "stir", STIR_FLOOD)
        rows = []
        for native in (True, False):
            path = "native" if native else "python"
            cost, count = per_exception(tick, idle, cycles, native=native, register="r6")
            rows.append((path, "SysTick entry + return", f"{cost:.1f} µs", count))
            _, cpu, wall = timed_run(tick_1khz, CLOCK_HZ, native=native)
            rows.append((path, "1 kHz SysTick, 1 s virtual", ratios(1.0, wall, cpu), 1000))
            cost, count = per_exception(switch, idle, cycles, native=native, register="mem")
            rows.append((path, "PendSV switch (SysTick + PendSV)", f"{cost:.1f} µs", count))
            virtual, cpu, wall = scheduler_ratio(native)
            rows.append(
                (path, "bm_scheduler to its end", ratios(virtual, wall, cpu), f"{virtual:.3f} s")
            )
            cost, count = per_exception(tim6, idle, cycles, native=native, register="r6")
            rows.append((path, "TIM6 IRQ at 100 kHz", f"{cost:.1f} µs", count))
            _, cpu, wall = timed_run(tim6, cycles, native=native)
            rows.append((path, "TIM6 at 100 kHz", ratios(args.seconds, wall, cpu), ""))
            cost, count = per_exception(stir, idle, cycles, native=native, register="r6")
            rows.append((path, "STIR loop IRQ", f"{cost:.1f} µs", count))
        for path, name, value, count in rows:
            print(f"{path:7} {name:34} {value:>24} {count}")


if __name__ == "__main__":
    main()
