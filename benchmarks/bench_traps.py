"""Measure what the CCR trap hooks cost: ``bm_cpu_bench`` with CCR bits set by the host.

Runs the CPU-bound benchmark image (CRC-32 and SHA-256 rounds over a 4 KiB
RAM buffer) on the full machine three times: with no trap, with
CCR.DIV_0_TRP and with CCR.UNALIGN_TRP, each set before the first
instruction. Prints the instruction rate over process CPU time and checks
that every run printed the same digests.

Usage: ``.venv/bin/python benchmarks/bench_traps.py [--rounds N]``
"""

from __future__ import annotations

import argparse
import struct
import subprocess
import time
from pathlib import Path

from openvisor.machine import Machine, RunReason

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
MAILBOX = 0x2007_E000
BENCH_MAGIC = 0xB5E1_C7ED
CCR = 0xE000_ED14
CCR_RESET = 0x201
CASES = {"no trap": 0, "DIV_0_TRP": 1 << 4, "UNALIGN_TRP": 1 << 3}


def run_case(elf: Path, rounds: int, ccr_bits: int) -> tuple[float, list[str]]:
    """Run the image once with `ccr_bits` set in CCR; return (MIPS, console lines)."""
    machine = Machine()
    machine.load_elf(elf)
    machine.reset()
    machine.mem_write(MAILBOX, struct.pack("<II", rounds, BENCH_MAGIC))
    machine.bus_write(CCR, 4, CCR_RESET | ccr_bits)
    machine.peripherals.on_console(
        lambda source, line: machine.request_stop() if line == "bench done" else None
    )
    start_cycles = machine.cycles
    start_cpu = time.process_time()
    result = machine.run(max_cycles=1 << 62)
    cpu = time.process_time() - start_cpu
    if result.reason is not RunReason.STOP:
        raise SystemExit(f"benchmark image did not finish: {result}")
    return (machine.cycles - start_cycles) / cpu / 1e6, machine.peripherals.console


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200, help="benchmark rounds (4 KiB each)")
    args = parser.parse_args()
    subprocess.run(["make", "-C", str(FIRMWARE), "build/bm_cpu_bench.elf"], check=True)
    elf = FIRMWARE / "build" / "bm_cpu_bench.elf"
    reference: list[str] | None = None
    for name, bits in CASES.items():
        mips, console = run_case(elf, args.rounds, bits)
        if reference is None:
            reference = console
        elif console != reference:
            raise SystemExit(f"{name}: console output differs from the run without traps")
        print(f"{name:12} {mips:8.1f} MIPS")


if __name__ == "__main__":
    main()
