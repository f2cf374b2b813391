"""Measure the emulated STM32U585: throughput, exception round trip, idle cost.

Runs, in one process:

1. the CPU-bound image ``bm_cpu_bench`` (CRC-32 and SHA-256 over a 4 KiB
   RAM buffer, ``--rounds`` rounds) on the full machine (virtual clock,
   exception model and peripherals active);
2. the same ELF on bare Unicorn 2.1.4 with no hooks (flash, SRAM and the
   peripheral and system pages mapped as plain memory), once with
   Unicorn's default TLB and once with the machine's TLB fill policy
   (``openvisor.machine.tlb.VirtualTlb``), the like-for-like comparison;
3. the same C source built for ``qemu-system-arm -M mps2-an505`` (a
   Cortex-M33 board), ``--qemu-rounds`` rounds in the CPU time of the
   QEMU process to its semihosting exit, less QEMU's start-up (the same
   build with 0 rounds), when qemu-system-arm is installed;
4. the full machine again with the MPU enabled (``MPU_PAGES``, ``MPU_GUARD``);
5. an SVC round trip (entry and return) in a tight loop;
6. a system call through the call gateway in a tight loop, with a
   handler that returns at once;
7. an idle device: 10 s of virtual time asleep in WFI.

Instruction counts come from the machine's exact virtual clock (one cycle
per instruction); bare Unicorn and QEMU execute the same instruction
stream apart from start-up, so their rate is that count over their time.
QEMU's count is extrapolated: the count is linear in the rounds, and the
QEMU build differs from the machine's only in start-up and in how it
reports (semihosting instead of the console), so its count is an estimate.
Each Python-side figure is given in wall time and in the process's CPU
time: on a shared host the CPU time is what the emulator itself costs,
and the ratio of CPU times is the fairer comparison with bare Unicorn.

Usage: ``.venv/bin/python benchmarks/bench_machine.py [--rounds N]``
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import struct
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

from unicorn import UC_ARCH_ARM, UC_MODE_MCLASS, UC_MODE_THUMB, UC_PROT_ALL, Uc, UcError, arm_const

from openvisor.machine import Machine, Pacing, RunReason
from openvisor.machine.loader import load_elf_file
from openvisor.machine.tlb import VirtualTlb

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
MAILBOX = 0x2007_E000
BENCH_MAGIC = 0xB5E1_C7ED
CLOCK_HZ = 160_000_000

QEMU_LINKER_SCRIPT = """
ENTRY(Reset_Handler)
MEMORY
{
    FLASH (rx)  : ORIGIN = 0x10000000, LENGTH = 1024K
    RAM   (rwx) : ORIGIN = 0x38000000, LENGTH = 512K
}
_estack = ORIGIN(RAM) + LENGTH(RAM);
SECTIONS
{
    .isr_vector : { KEEP(*(.isr_vector)) } > FLASH
    .text : { *(.text*) KEEP(*(.init)) KEEP(*(.fini)) } > FLASH
    .rodata : { *(.rodata*) . = ALIGN(4); } > FLASH
    .ARM.exidx : { *(.ARM.exidx*) } > FLASH
    .preinit_array : { PROVIDE_HIDDEN(__preinit_array_start = .); KEEP(*(.preinit_array*)) PROVIDE_HIDDEN(__preinit_array_end = .); } > FLASH
    .init_array : { PROVIDE_HIDDEN(__init_array_start = .); KEEP(*(.init_array*)) PROVIDE_HIDDEN(__init_array_end = .); } > FLASH
    .fini_array : { PROVIDE_HIDDEN(__fini_array_start = .); KEEP(*(.fini_array*)) PROVIDE_HIDDEN(__fini_array_end = .); } > FLASH
    _sidata = LOADADDR(.data);
    .data : { . = ALIGN(4); _sdata = .; *(.data*) . = ALIGN(4); _edata = .; } > RAM AT> FLASH
    .bss (NOLOAD) : { . = ALIGN(4); _sbss = .; __bss_start__ = .; *(.bss*) *(COMMON) . = ALIGN(4); _ebss = .; __bss_end__ = .; } > RAM
    PROVIDE(end = .);
}
"""

SVC_LOOP = """
.syntax unified
.thumb
.cpu cortex-m33
.section .text
vectors:
    .word 0x20080000
    .word reset + 1
    .rept 9
    .word spin + 1
    .endr
    .word svc_handler + 1
    .rept 4
    .word spin + 1
    .endr
.thumb_func
reset:
    ldr r4, =ROUNDS
loop:
    svc #0
    subs r4, r4, #1
    bne loop
done:
    wfi
    b done
.thumb_func
svc_handler:
    bx lr
.thumb_func
spin:
    b spin
.ltorg
"""

GATEWAY_LOOP = """
.syntax unified
.thumb
.cpu cortex-m33
.section .text
vectors:
    .word 0x20080000
    .word reset + 1
    .rept 14
    .word spin + 1
    .endr
.thumb_func
reset:
    ldr r4, =ROUNDS
    ldr r5, =0x0C1FE001
loop:
    blx r5
    subs r4, r4, #1
    bne loop
done:
    wfi
    b done
.thumb_func
spin:
    b spin
.ltorg
"""


class Timer:
    """Wall and process CPU time of a `with` block, in seconds."""

    def __enter__(self) -> Self:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def build_firmware() -> Path:
    """Build the firmware tree and return the benchmark ELF."""
    subprocess.run(["make", "-C", str(FIRMWARE), "-j2", "build/bm_cpu_bench.elf"], check=True)
    return FIRMWARE / "build" / "bm_cpu_bench.elf"


# MPU set-ups for the MPU-on runs, as (RBAR, RLAR) per region: flash
# read-only for all and executable, SRAM read-write for all and
# execute-never. MPU_GUARD adds a 32-byte hole at 0x2007_C000 (a stack guard
# below the mailbox and the stack), which makes every load a checked one.
MPU_PAGES = [
    (0x0800_0000 | 0b110, 0x080F_FFE1),
    (0x2000_0000 | 0b011, 0x2007_FFE1),
]
MPU_GUARD = [
    (0x0800_0000 | 0b110, 0x080F_FFE1),
    (0x2000_0000 | 0b011, 0x2007_BFE1),
    (0x2007_C020 | 0b011, 0x2007_FFE1),
]


def configure_mpu(machine: Machine, regions: list[tuple[int, int]]) -> None:
    """Enable the MPU with `regions` through its registers."""
    for number, (rbar, rlar) in enumerate(regions):
        machine.bus_write(0xE000_ED98, 4, number)
        machine.bus_write(0xE000_ED9C, 4, rbar)
        machine.bus_write(0xE000_EDA0, 4, rlar)
    machine.bus_write(0xE000_ED94, 4, 1)


def bench_machine(
    elf: Path, rounds: int, mpu: list[tuple[int, int]] | None = None
) -> tuple[int, Timer, list[str]]:
    """Run the benchmark image on the full machine; return (instructions, timer, console)."""
    machine = Machine()
    machine.load_elf(elf)
    machine.reset()
    if mpu is not None:
        configure_mpu(machine, mpu)
    machine.mem_write(MAILBOX, struct.pack("<II", rounds, BENCH_MAGIC))
    machine.peripherals.on_console(
        lambda source, line: machine.request_stop() if line == "bench done" else None
    )
    start_cycles = machine.cycles
    with Timer() as timer:
        result = machine.run(max_cycles=1 << 62)
    if result.reason is not RunReason.STOP:
        raise SystemExit(f"benchmark image did not finish: {result}")
    return machine.cycles - start_cycles, timer, machine.peripherals.console


def bench_bare_unicorn(elf: Path, rounds: int, *, machine_tlb: bool = False) -> Timer:
    """Run the same ELF on Unicorn with no hooks; return its time until it halts in WFI.

    With `machine_tlb`, the engine fills its TLB as the machine does.
    """
    image = load_elf_file(elf)
    uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS)
    uc.ctl_set_cpu_model(arm_const.UC_CPU_ARM_CORTEX_M33)
    uc.ctl_set_tcg_buffer_size(16 * 1024 * 1024)
    if machine_tlb:
        VirtualTlb(uc)
    uc.mem_map(0x0800_0000, 1024 * 1024, UC_PROT_ALL)
    uc.mem_map(0x2000_0000, 512 * 1024, UC_PROT_ALL)
    # Plain memory where the image touches peripherals: USART2 ISR reads TXE|TC.
    uc.mem_map(0x4000_0000, 0x10000, UC_PROT_ALL)
    uc.mem_map(0x4602_0000, 0x10000, UC_PROT_ALL)
    uc.mem_map(0xE000_E000, 0x1000, UC_PROT_ALL)
    uc.mem_write(0x4000_441C, struct.pack("<I", 0xC0))
    for segment in image.segments:
        uc.mem_write(segment.address, segment.data)
    uc.mem_write(MAILBOX, struct.pack("<II", rounds, BENCH_MAGIC))
    initial_sp, reset = struct.unpack("<II", bytes(uc.mem_read(0x0800_0000, 8)))
    uc.reg_write(arm_const.UC_ARM_REG_SP, initial_sp)
    with Timer() as timer:
        try:
            uc.emu_start(reset | 1, 0)
        except UcError as exc:
            raise SystemExit(
                f"bare Unicorn run failed at {uc.reg_read(arm_const.UC_ARM_REG_PC):#x}: {exc}"
            ) from exc
    return timer


def bench_qemu(rounds: int, workdir: Path) -> float | None:
    """Build the benchmark for mps2-an505; return QEMU's CPU seconds, None if unavailable."""
    qemu = shutil.which("qemu-system-arm")
    if qemu is None:
        return None
    script = workdir / "an505.ld"
    script.write_text(QEMU_LINKER_SCRIPT)
    elf = workdir / "bench_an505.elf"
    subprocess.run(
        [
            "arm-none-eabi-gcc",
            "-mcpu=cortex-m33",
            "-mthumb",
            "-mfloat-abi=hard",
            "-mfpu=fpv5-sp-d16",
            "-O2",
            "-DBENCH_BARE",
            f"-DDEFAULT_ROUNDS={rounds}u",
            f"-I{FIRMWARE / 'apps' / 'bm_cpu_bench'}",
            f"-I{FIRMWARE / 'common'}",
            str(FIRMWARE / "apps" / "bm_cpu_bench" / "main.c"),
            str(ROOT / "sdk" / "startup" / "startup.c"),
            f"-I{ROOT / 'sdk' / 'include'}",
            "--specs=nano.specs",
            "--specs=nosys.specs",
            f"-T{script}",
            "-o",
            str(elf),
        ],
        check=True,
    )
    command = [qemu, "-M", "mps2-an505", "-nographic", "-semihosting", "-kernel", str(elf)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True, timeout=600, stdin=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def qemu_mips(rounds: int, instructions: int, workdir: Path) -> tuple[float, float] | None:
    """Return (QEMU MIPS without start-up, start-up seconds), or None without QEMU.

    `instructions` is the count for `rounds` rounds. The start-up time is
    the best of three runs of the same build with 0 rounds.
    """
    full = bench_qemu(rounds, workdir)
    if full is None:
        return None
    startup = min(bench_qemu(0, workdir) or 0.0 for _ in range(3))
    if full <= startup:
        raise SystemExit(f"QEMU ran {rounds} rounds as fast as its start-up: raise --qemu-rounds")
    return instructions / (full - startup) / 1e6, startup


def _assemble(workdir: Path, name: str, source: str) -> Path:
    (workdir / f"{name}.S").write_text(source)
    subprocess.run(["arm-none-eabi-as", "-o", f"{name}.o", f"{name}.S"], cwd=workdir, check=True)
    subprocess.run(
        ["arm-none-eabi-ld", "-Ttext=0x08000000", "-e", "0x08000000", "-o", f"{name}.elf"]
        + [f"{name}.o"],
        cwd=workdir,
        check=True,
    )
    return workdir / f"{name}.elf"


def bench_loop(elf: Path, rounds: int, *, gateway: bool = False) -> tuple[float, float]:
    """Run a call loop to its WFI; return (wall, CPU) seconds per round."""
    machine = Machine()
    machine.load_elf(elf)
    machine.reset()
    if gateway:
        machine.gateway_handler = lambda machine, address: 0
    with Timer() as timer:
        # A gateway call also costs machine.gateway_call_cycles of virtual time.
        per_round = 10 + (machine.gateway_call_cycles if gateway else 0)
        result = machine.run(max_cycles=per_round * rounds + 1000)
    if result.reason is not RunReason.SLEEP:
        raise SystemExit(f"call loop did not finish: {result}")
    return timer.wall / rounds, timer.cpu / rounds


def bench_calls(workdir: Path, rounds: int = 20_000) -> dict[str, tuple[float, float]]:
    """Time SVC round trips and gateway calls; return {name: (wall, CPU) per call}."""
    svc = _assemble(workdir, "svc", SVC_LOOP.replace("ROUNDS", str(rounds)))
    gateway = _assemble(workdir, "gateway", GATEWAY_LOOP.replace("ROUNDS", str(rounds)))
    results: dict[str, list[tuple[float, float]]] = {"svc": [], "gateway": []}
    for _ in range(3):
        results["svc"].append(bench_loop(svc, rounds))
        results["gateway"].append(bench_loop(gateway, rounds, gateway=True))
    return {name: min(times) for name, times in results.items()}


def bench_idle(pacing: Pacing) -> tuple[float, float]:
    """Return (host CPU seconds, wall seconds) for 10 s of virtual sleep in WFI."""
    machine = Machine(pacing=pacing)
    machine.load_elf(FIRMWARE / "build" / "bm_blink.elf")
    machine.reset()
    machine.run(max_cycles=CLOCK_HZ)  # the blink finishes in 60 ms and sleeps
    cpu = time.process_time()
    wall = time.perf_counter()
    machine.run(max_cycles=10 * CLOCK_HZ)
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    """Run every measurement and print a Markdown summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1000, help="benchmark rounds (4 KiB each)")
    parser.add_argument(
        "--repeat", type=int, default=5, help="alternating runs of machine and bare Unicorn"
    )
    parser.add_argument(
        "--qemu-rounds", type=int, default=20_000, help="bm_cpu_bench rounds on qemu-system-arm"
    )
    args = parser.parse_args()

    elf = build_firmware()
    subprocess.run(["make", "-C", str(FIRMWARE), "build/bm_blink.elf"], check=True)
    # Alternate the two and keep the best of each, so that load from other
    # processes on the host affects both alike.
    machine_runs = []
    bare_runs = []
    bare_tlb_runs = []
    mpu_runs: dict[str, list[Timer]] = {"whole pages": [], "32-byte guard": []}
    for _ in range(args.repeat):
        instructions, timer, console = bench_machine(elf, args.rounds)
        machine_runs.append(timer)
        bare_runs.append(bench_bare_unicorn(elf, args.rounds))
        bare_tlb_runs.append(bench_bare_unicorn(elf, args.rounds, machine_tlb=True))
        mpu_runs["whole pages"].append(bench_machine(elf, args.rounds, MPU_PAGES)[1])
        mpu_runs["32-byte guard"].append(bench_machine(elf, args.rounds, MPU_GUARD)[1])
    machine_wall = min(run.wall for run in machine_runs)
    machine_cpu = min(run.cpu for run in machine_runs)
    bare_wall = min(run.wall for run in bare_runs)
    bare_cpu = min(run.cpu for run in bare_runs)
    bare_tlb_wall = min(run.wall for run in bare_tlb_runs)
    bare_tlb_cpu = min(run.cpu for run in bare_tlb_runs)
    # The instruction count is linear in the rounds, which gives QEMU's count.
    one_round = bench_machine(elf, 1)[0]
    per_round = (instructions - one_round) // max(args.rounds - 1, 1)
    qemu_instructions = one_round + per_round * (args.qemu_rounds - 1)
    with tempfile.TemporaryDirectory() as temporary:
        workdir = Path(temporary)
        qemu = qemu_mips(args.qemu_rounds, qemu_instructions, workdir)
        calls = bench_calls(workdir)
    idle_cpu, idle_wall = bench_idle(Pacing.FAST)
    paced_cpu, paced_wall = bench_idle(Pacing.REALTIME)

    def mips(seconds: float) -> float:
        return instructions / seconds / 1e6

    load = os.getloadavg()[0]
    print(f"host: {platform.machine()}, {os.cpu_count()} CPUs, load average {load:.1f}")
    print(f"Python {platform.python_version()}, best of {args.repeat} alternating runs")
    print(f"image: bm_cpu_bench, {args.rounds} rounds, {instructions:,} instructions")
    print(f"console: {console[1]} {console[2][:30]}...")
    print()
    print("| measurement | wall time | CPU time |")
    print("|---|---|---|")
    print(
        f"| full machine | {mips(machine_wall):,.0f} MIPS ({machine_wall:.2f} s) "
        f"| {mips(machine_cpu):,.0f} MIPS ({machine_cpu:.2f} s) |"
    )
    print(
        f"| bare Unicorn, no hooks, default TLB | {mips(bare_wall):,.0f} MIPS ({bare_wall:.2f} s) "
        f"| {mips(bare_cpu):,.0f} MIPS ({bare_cpu:.2f} s) |"
    )
    print(
        f"| bare Unicorn, no hooks, the machine's TLB fill | {mips(bare_tlb_wall):,.0f} MIPS "
        f"({bare_tlb_wall:.2f} s) | {mips(bare_tlb_cpu):,.0f} MIPS ({bare_tlb_cpu:.2f} s) |"
    )
    print(
        f"| full machine / bare Unicorn with the same TLB fill | "
        f"{bare_tlb_wall / machine_wall:.2f} | {bare_tlb_cpu / machine_cpu:.2f} |"
    )
    for name, runs in mpu_runs.items():
        mpu_wall = min(run.wall for run in runs)
        mpu_cpu = min(run.cpu for run in runs)
        print(
            f"| full machine, MPU on, {name} | {mips(mpu_wall):,.0f} MIPS ({mpu_wall:.2f} s) "
            f"| {mips(mpu_cpu):,.0f} MIPS ({mpu_cpu:.2f} s) |"
        )
    if qemu is not None:
        qemu_rate, startup = qemu
        print(
            f"| qemu-system-arm -M mps2-an505, {args.qemu_rounds} rounds less start-up "
            f"({startup:.2f} s) | — | {qemu_rate:,.0f} MIPS |"
        )
    else:
        print("| qemu-system-arm | not installed | — |")
    svc_wall, svc_cpu = calls["svc"]
    gateway_wall, gateway_cpu = calls["gateway"]
    print(f"| SVC entry + return | {svc_wall * 1e6:.1f} µs | {svc_cpu * 1e6:.1f} µs |")
    print(
        f"| gateway call, empty handler | {gateway_wall * 1e6:.1f} µs "
        f"| {gateway_cpu * 1e6:.1f} µs |"
    )
    print(f"| idle, 10 s virtual in WFI, fast pacing | {idle_wall:.3f} s | {idle_cpu:.3f} s |")
    print(
        f"| idle, 10 s virtual in WFI, real-time pacing | {paced_wall:.2f} s "
        f"| {paced_cpu:.3f} s ({paced_cpu / paced_wall * 100:.2f} % of a core) |"
    )


if __name__ == "__main__":
    main()
