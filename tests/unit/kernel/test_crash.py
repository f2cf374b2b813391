"""Restart back-off, crash policy defaults and ELF symbolization."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from elftools.elf.elffile import ELFFile

from openvisor.kernel.crash import CrashPolicy, CrashReport, RestartBackoff, Symbolizer


def test_policy_zero_means_default() -> None:
    policy = CrashPolicy()
    assert policy.min_restart_us == 1_000_000
    assert policy.max_restart_us == 60_000_000
    assert policy.stack_bytes == 256


def test_backoff_doubles_while_crashing_quickly() -> None:
    backoff = RestartBackoff(CrashPolicy())
    delays = [backoff.next_delay_us(uptime_us=500_000) for _ in range(9)]
    assert delays[:7] == [
        1_000_000,
        2_000_000,
        4_000_000,
        8_000_000,
        16_000_000,
        32_000_000,
        60_000_000,
    ]
    assert delays[7:] == [60_000_000, 60_000_000]


def test_backoff_resets_after_a_long_run() -> None:
    backoff = RestartBackoff(CrashPolicy())
    backoff.next_delay_us(0)
    backoff.next_delay_us(0)
    assert backoff.next_delay_us(uptime_us=61_000_000) == 1_000_000


def test_backoff_uses_policy_bounds() -> None:
    backoff = RestartBackoff(CrashPolicy(minimum_restart_ms=250, maximum_restart_ms=700))
    assert [backoff.next_delay_us(0) for _ in range(4)] == [250_000, 500_000, 700_000, 700_000]


def test_report_json_round_trip() -> None:
    report = CrashReport(
        kind="fault",
        detail="read of secure memory",
        micros=5,
        uptime_us=4,
        pc=0x0800_0100,
        lr=0x0800_0201,
        sp=0x2007_FFF0,
        xpsr=0x0100_0000,
        fault_address=0x3000_0000,
        access="read",
        registers={"r0": 1},
        stack="00ff",
        symbols={"pc": "main+0x4"},
    )
    assert CrashReport.from_json(report.to_json()) == report
    assert "main+0x4" in report.summary()
    assert "0x30000000" in report.summary()


def test_symbolizer_names_main(firmware: Callable[[str], Path]) -> None:
    elf_path = firmware("hello")
    with open(elf_path, "rb") as stream:
        symbol = ELFFile(stream).get_section_by_name(".symtab").get_symbol_by_name("main")[0]
    main = symbol["st_value"] & ~1
    symbolizer = Symbolizer(elf_path)
    assert symbolizer.function(main + 4) == "main+0x4"
    description = symbolizer.describe(main + 4)
    assert description is not None and "main.c:" in description
    assert symbolizer.function(0x2000_0000) is None


def test_symbolizer_survives_missing_file(tmp_path: Path) -> None:
    symbolizer = Symbolizer(tmp_path / "missing.elf")
    assert symbolizer.describe(0x0800_0000) is None
