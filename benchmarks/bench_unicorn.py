"""Find what limits bare Unicorn's throughput on Cortex-M33 code: one experiment per setting.

Runs, in one process and on bare Unicorn 2.1.4 (no openvisor machine):

1. a tight loop (``adds``, ``subs``, ``bne``: 3 instructions, one
   translated block per iteration) from flash and from SRAM;
2. the same loop with one load or one store per iteration, under each
   memory setting that could matter. The TLB is filled by the CPU model
   (``UC_TLB_CPU``, the default) or by a hook (``UC_TLB_VIRTUAL``) that
   gives data pages read and write only. The other settings are SRAM
   mapped with or without execute and a store target in a page that the
   Cortex-M default memory map makes never-executable. The last are a
   memory hook over the target or elsewhere, and a store into the SRAM
   page that contains the running code;
3. the CPU-bound image ``bm_cpu_bench`` (CRC-32 and SHA-256) with the
   same TLB settings, ``ctl_set_tcg_buffer_size`` values, the
   ``emu_start`` arguments ``count`` and ``timeout``, and the machine's
   native block hook (``ov_block_hook``), idle or counting instructions;
4. the same C source on ``qemu-system-arm -M mps2-an505`` (QEMU's
   start-up is measured with 0 rounds and subtracted), when installed.

Every figure is process CPU time (for QEMU, that of its process), the
best of ``--repeat`` runs that alternate between the settings of a group,
so load from other processes affects all settings of a group alike.

Usage: ``.venv/bin/python benchmarks/bench_unicorn.py [--rounds N] [--repeat N]``
"""

from __future__ import annotations

import argparse
import ctypes
import os
import platform
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import unicorn
from bench_machine import BENCH_MAGIC, MAILBOX, bench_machine, build_firmware, qemu_mips
from unicorn import (
    UC_ARCH_ARM,
    UC_HOOK_BLOCK,
    UC_HOOK_MEM_INVALID,
    UC_HOOK_TLB_FILL,
    UC_MEM_FETCH,
    UC_MODE_MCLASS,
    UC_MODE_THUMB,
    UC_PROT_ALL,
    UC_PROT_EXEC,
    UC_PROT_READ,
    UC_PROT_WRITE,
    UC_TLB_VIRTUAL,
    Uc,
    arm_const,
)

from openvisor.machine import _native
from openvisor.machine.loader import load_elf_file

FLASH = 0x0800_0000
SRAM = 0x2000_0000
READ_WRITE = UC_PROT_READ | UC_PROT_WRITE
LOOP_ROUNDS = 10_000_000
# Host buffers and native state of engines with the native block hook, by engine id.
KEEP_ALIVE: dict[int, tuple[Any, ...]] = {}


@dataclass
class Setting:
    """One engine configuration: TLB mode, SRAM permissions, hooks, engine options."""

    virtual_tlb: bool = False
    sram_perms: int = UC_PROT_ALL
    invalid_hook: tuple[int, int] | None = None  # (begin, end); (1, 0) is every address
    tcg_buffer: int | None = 16 * 1024 * 1024
    count: int = 0
    timeout_us: int = 0
    block_hook: str | None = None  # the machine's native block hook: "counting" or "idle"


def data_pages_without_execute(uc: Any, address: int, access: int, entry: Any, data: Any) -> bool:
    """TLB fill: identity address, execute only for pages that code is fetched from."""
    entry.paddr = address
    entry.perms = UC_PROT_ALL if access == UC_MEM_FETCH else READ_WRITE
    return True


def ignore_invalid(*args: Any) -> bool:
    return False


def new_engine(setting: Setting) -> Uc:
    """Create a Cortex-M33 engine with `setting` and flash and SRAM mapped."""
    uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS)
    uc.ctl_set_cpu_model(arm_const.UC_CPU_ARM_CORTEX_M33)
    if setting.tcg_buffer is not None:
        uc.ctl_set_tcg_buffer_size(setting.tcg_buffer)

    if setting.virtual_tlb:
        uc.ctl_set_tlb_mode(UC_TLB_VIRTUAL)
        uc.hook_add(UC_HOOK_TLB_FILL, data_pages_without_execute)
    if setting.invalid_hook is not None:
        begin, end = setting.invalid_hook
        uc.hook_add(UC_HOOK_MEM_INVALID, ignore_invalid, None, begin, end)

    if setting.block_hook is None:
        uc.mem_map(FLASH, 1024 * 1024, UC_PROT_READ | UC_PROT_EXEC)
        uc.mem_map(SRAM, 512 * 1024, setting.sram_perms)
        return uc
    # The native hook reads instruction encodings from host buffers, as in the machine.
    flash = ctypes.create_string_buffer(1024 * 1024)
    sram = ctypes.create_string_buffer(512 * 1024)
    uc.mem_map_ptr(FLASH, len(flash), UC_PROT_READ | UC_PROT_EXEC, ctypes.addressof(flash))
    uc.mem_map_ptr(SRAM, len(sram), setting.sram_perms, ctypes.addressof(sram))
    core = _native.new_core()
    core.flash, core.flash_base, core.flash_size = ctypes.addressof(flash), FLASH, len(flash)
    core.sram, core.sram_base, core.sram_size = ctypes.addressof(sram), SRAM, len(sram)
    core.deadline = _native.NEVER
    core.counting = 1 if setting.block_hook == "counting" else 0
    library = _native.load_library()
    handle = uc._uch
    _native.add_native_hook(handle, UC_HOOK_BLOCK, library.ov_block_hook, core, 1, 0)
    KEEP_ALIVE[id(uc)] = (flash, sram, core)
    return uc


def timed_start(uc: Uc, begin: int, until: int, setting: Setting) -> float:
    """Run from `begin` to `until` and return the CPU time in seconds."""
    start = time.process_time()
    uc.emu_start(begin | 1, until, timeout=setting.timeout_us, count=setting.count)
    return time.process_time() - start


# Micro loops


def assemble_loop(workdir: Path, body: str, rounds: int, data: int, base: int) -> tuple[bytes, int]:
    """Assemble a counted loop around `body` at `base` and return (code, address of the end)."""
    source = f"""
.syntax unified
.thumb
.cpu cortex-m33
.global _start
.thumb_func
_start:
    ldr r0, ={rounds}
    ldr r2, ={data:#x}
    movs r1, #0
loop:
{body}
    adds r1, r1, #1
    subs r0, r0, #1
    bne loop
done:
    b done
.ltorg
"""
    (workdir / "loop.S").write_text(source)
    run = ["arm-none-eabi-as", "-o", "loop.o", "loop.S"]
    subprocess.run(run, cwd=workdir, check=True)
    link = ["arm-none-eabi-ld", f"-Ttext={base:#x}", "-e", f"{base:#x}", "-o", "loop.elf", "loop.o"]
    subprocess.run(link, cwd=workdir, check=True)
    copy = ["arm-none-eabi-objcopy", "-O", "binary", "loop.elf", "loop.bin"]
    subprocess.run(copy, cwd=workdir, check=True)
    symbols = subprocess.run(
        ["arm-none-eabi-nm", "loop.elf"], cwd=workdir, check=True, capture_output=True, text=True
    ).stdout
    done = next(int(line.split()[0], 16) for line in symbols.splitlines() if line.endswith(" done"))
    return (workdir / "loop.bin").read_bytes(), done


@dataclass
class LoopCase:
    """A micro loop: its body, where its code and data live, and the engine setting."""

    name: str
    body: str
    setting: Setting
    code_base: int = FLASH
    data: int = SRAM + 0x1000
    extra_map: int | None = None  # base of 64 KiB mapped read+write for the data

    def run(self, workdir: Path, rounds: int) -> float:
        """Return the CPU time of one run."""
        code, done = assemble_loop(workdir, self.body, rounds, self.data, self.code_base)
        uc = new_engine(self.setting)
        if self.extra_map is not None:
            uc.mem_map(self.extra_map, 0x10000, READ_WRITE)
        uc.mem_write(self.code_base, code)
        seconds = timed_start(uc, self.code_base, done, self.setting)
        if uc.reg_read(arm_const.UC_ARM_REG_R1) != rounds:
            raise SystemExit(f"loop {self.name!r} stopped early")
        return seconds


def loop_cases() -> list[LoopCase]:
    cpu = Setting()
    virtual = Setting(virtual_tlb=True)
    outside_sram = (SRAM + 512 * 1024, 0xFFFF_FFFF)
    return [
        LoopCase("no memory access, code in flash", "", cpu),
        LoopCase("no memory access, code in SRAM", "", cpu, code_base=SRAM),
        LoopCase("ldr from SRAM, CPU TLB", "    ldr r3, [r2]", cpu),
        LoopCase("str to SRAM, CPU TLB", "    str r1, [r2]", cpu),
        LoopCase(
            "str to SRAM mapped without execute, CPU TLB",
            "    str r1, [r2]",
            Setting(sram_perms=READ_WRITE),
        ),
        LoopCase(
            "str to RAM at 0x6000_0000 (executable in the default map), CPU TLB",
            "    str r1, [r2]",
            cpu,
            data=0x6000_0000,
            extra_map=0x6000_0000,
        ),
        LoopCase(
            "str to RAM at 0x4000_0000 (never-executable in the default map), CPU TLB",
            "    str r1, [r2]",
            cpu,
            data=0x4000_0000,
            extra_map=0x4000_0000,
        ),
        LoopCase("str to SRAM, virtual TLB (data pages RW)", "    str r1, [r2]", virtual),
        LoopCase(
            "str to SRAM, virtual TLB, invalid-access hook on every address",
            "    str r1, [r2]",
            Setting(virtual_tlb=True, invalid_hook=(1, 0)),
        ),
        LoopCase(
            "str to SRAM, virtual TLB, invalid-access hook outside SRAM",
            "    str r1, [r2]",
            Setting(virtual_tlb=True, invalid_hook=outside_sram),
        ),
        LoopCase(
            "str into the 1 KiB page of the running code (SRAM), virtual TLB",
            "    str r1, [r2]",
            virtual,
            code_base=SRAM,
            data=SRAM + 0x200,
        ),
        LoopCase(
            "str to another SRAM page than the running code, virtual TLB",
            "    str r1, [r2]",
            virtual,
            code_base=SRAM,
        ),
    ]


# The CPU-bound image


def run_image(elf: Path, rounds: int, setting: Setting) -> float:
    """Run bm_cpu_bench until its WFI and return the CPU time."""
    image = load_elf_file(elf)
    uc = new_engine(setting)
    # Plain memory where the image touches peripherals: USART2 ISR reads TXE|TC.
    uc.mem_map(0x4000_0000, 0x10000, UC_PROT_ALL)
    uc.mem_map(0x4602_0000, 0x10000, UC_PROT_ALL)
    uc.mem_map(0xE000_E000, 0x1000, UC_PROT_ALL)
    uc.mem_write(0x4000_441C, struct.pack("<I", 0xC0))
    for segment in image.segments:
        uc.mem_write(segment.address, segment.data)
    uc.mem_write(MAILBOX, struct.pack("<II", rounds, BENCH_MAGIC))
    initial_sp, reset = struct.unpack("<II", bytes(uc.mem_read(FLASH, 8)))
    uc.reg_write(arm_const.UC_ARM_REG_SP, initial_sp)
    return timed_start(uc, reset, 0, setting)


def image_settings(instructions: int) -> list[tuple[str, Setting]]:
    outside_sram = (SRAM + 512 * 1024, 0xFFFF_FFFF)
    return [
        ("CPU TLB (default), TCG buffer 16 MiB", Setting()),
        ("CPU TLB, TCG buffer 2 MiB", Setting(tcg_buffer=2 * 1024 * 1024)),
        ("CPU TLB, TCG buffer left at Unicorn's default", Setting(tcg_buffer=None)),
        ("CPU TLB, SRAM mapped without execute", Setting(sram_perms=READ_WRITE)),
        ("CPU TLB, emu_start timeout 60 s", Setting(timeout_us=60_000_000)),
        ("CPU TLB, emu_start count = instructions + 1000", Setting(count=instructions + 1000)),
        ("virtual TLB (data pages RW)", Setting(virtual_tlb=True)),
        (
            "virtual TLB, invalid-access hook on every address",
            Setting(virtual_tlb=True, invalid_hook=(1, 0)),
        ),
        (
            "virtual TLB, invalid-access hook outside SRAM",
            Setting(virtual_tlb=True, invalid_hook=outside_sram),
        ),
        (
            "virtual TLB, the machine's native block hook returning at once",
            Setting(virtual_tlb=True, block_hook="idle"),
        ),
        (
            "virtual TLB, the machine's native block hook counting instructions",
            Setting(virtual_tlb=True, block_hook="counting"),
        ),
    ]


def best_of(repeat: int, runs: list[Callable[[], float]]) -> list[float]:
    """Alternate the runs `repeat` times and return the best time of each."""
    best = [float("inf")] * len(runs)
    for _ in range(repeat):
        for index, run in enumerate(runs):
            best[index] = min(best[index], run())
    return best


def main() -> None:
    """Run every experiment and print Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1000, help="bm_cpu_bench rounds (4 KiB each)")
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs per setting")
    parser.add_argument(
        "--qemu-rounds", type=int, default=20_000, help="bm_cpu_bench rounds on qemu-system-arm"
    )
    args = parser.parse_args()

    elf = build_firmware()
    # The machine's clock counts this image's instructions (see bench_machine.py);
    # the count is linear in the rounds, which gives QEMU's count.
    instructions, _, _ = bench_machine(elf, args.rounds)
    one_round, _, _ = bench_machine(elf, 1)
    per_round = (instructions - one_round) // max(args.rounds - 1, 1)
    qemu_instructions = one_round + per_round * (args.qemu_rounds - 1)

    print(f"host: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print(f"Unicorn {unicorn.__version__}, Python {platform.python_version()}")
    print(f"best of {args.repeat} alternating runs, process CPU time")
    print()
    with tempfile.TemporaryDirectory() as temporary:
        workdir = Path(temporary)
        cases = loop_cases()
        print(f"load average {os.getloadavg()[0]:.1f} before the micro loops")
        print()
        print("| micro loop (10 M iterations) | MIPS | ns per iteration |")
        print("|---|---|---|")
        loop_times = best_of(
            args.repeat, [lambda case=case: case.run(workdir, LOOP_ROUNDS) for case in cases]
        )
        for case, seconds in zip(cases, loop_times, strict=True):
            per_iteration = 3 if case.body == "" else 4
            mips = per_iteration * LOOP_ROUNDS / seconds / 1e6
            print(f"| {case.name} | {mips:,.0f} | {seconds / LOOP_ROUNDS * 1e9:.1f} |")
        print()

        settings = image_settings(instructions)
        print(f"load average {os.getloadavg()[0]:.1f} before the image runs")
        print()
        print(f"| bm_cpu_bench, {args.rounds} rounds, {instructions:,} instructions | MIPS | s |")
        print("|---|---|---|")
        image_runs = [
            lambda setting=setting: run_image(elf, args.rounds, setting) for _, setting in settings
        ]
        image_times = best_of(args.repeat, image_runs)
        for (name, _), seconds in zip(settings, image_times, strict=True):
            print(f"| {name} | {instructions / seconds / 1e6:,.0f} | {seconds:.2f} |")
        qemu = qemu_mips(args.qemu_rounds, qemu_instructions, workdir)
        if qemu is None:
            print("| qemu-system-arm | not installed | |")
        else:
            mips, startup = qemu
            print(
                f"| qemu-system-arm -M mps2-an505, {args.qemu_rounds} rounds, CPU time less "
                f"start-up ({startup:.2f} s) | {mips:,.0f} | |"
            )
    print()
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
