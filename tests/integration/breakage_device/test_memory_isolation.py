"""Branches, loads and stores outside the app's map end the app, never the host.

Each case runs hostile code from x_attack on a real device and asserts the
crash report the microvisor records, then that the app starts again.
"""

from __future__ import annotations

from typing import Any

import pytest

from openvisor.kernel.abi import CALL_ADDRESSES

FETCHES = {
    "secure flash": 0x0C00_0001,
    "secure SRAM": 0x3000_0001,
    "address zero": 0x0000_0001,
    "peripherals": 0x4000_0001,
    "system control space": 0xE000_E001,
    "top of the address space": 0xFFFF_FFFF,
    "just past the gateway page": 0x0C1F_F001,
    "end of SRAM": 0x2008_0001,
    "end of flash": 0x0810_0001,
}


@pytest.mark.parametrize("target", FETCHES.values(), ids=FETCHES.keys())
def test_branch_outside_map_crashes(attacker: Any, target: int) -> None:
    report = attacker.crash("call", target)
    assert report.kind == "fault"
    assert report.access == "fetch"
    assert report.fault_address == target & ~1
    assert report.pc == target & ~1
    assert report.detail.startswith("fetch of ")
    # LR points back into the app: the caller is in the report.
    assert report.symbols["lr"].startswith("do_call+")
    attacker.restarts()


GATEWAY_HOLES = {
    "middle of an entry (+2)": 0x0C1F_E012,
    "second half of an entry (+4)": 0x0C1F_E014,
    "empty entry 0xA0": 0x0C1F_E0A0,
    "empty entry 0x238": 0x0C1F_E238,
    "first address past the table": 0x0C1F_E250,
    "last halfword of the page": 0x0C1F_EFFE,
}


@pytest.mark.parametrize("target", GATEWAY_HOLES.values(), ids=GATEWAY_HOLES.keys())
def test_gateway_hole_crashes(attacker: Any, target: int) -> None:
    report = attacker.crash("call", target | 1)
    assert report.kind == "gateway"
    assert report.fault_address == target
    attacker.restarts()


def test_gateway_entry_halves_crash(attacker: Any) -> None:
    calls = {address & ~1 for address in CALL_ADDRESSES.values()}
    # The documented entries are exactly the 8-byte slots that hold a call.
    assert calls <= set(range(0x0C1F_E000, 0x0C1F_E250, 8))
    assert {0x0C1F_E0A0, 0x0C1F_E238}.isdisjoint(calls)
    # A call into the odd halfword of a real entry still crashes.
    report = attacker.crash("call", (CALL_ADDRESSES["mvGetMicroseconds"] | 1) + 2)
    assert report.kind == "gateway"


def test_gateway_call_without_thumb_bit(make_attacker: Any) -> None:
    """BLX to an even address faults in the app (INVSTATE), as on silicon."""
    attacker = make_attacker(stuck_in_fault_s=0.05)
    report = attacker.crash("call", CALL_ADDRESSES["mvGetMicroseconds"] & ~1, seconds=0.5)
    assert report.kind == "stuck-in-fault"
    assert report.symbols["pc"].startswith("HardFault_Handler+")
    assert attacker.machine.exception_unit.cfsr & (1 << 17)  # UFSR.INVSTATE


ACCESSES = {
    "read of a gateway entry": ("read32", 0x0C1F_E010, 0x0C1F_E010, "read", "call gateway"),
    "byte read of the gateway": ("read8", 0x0C1F_E000, 0x0C1F_E000, "read", "call gateway"),
    "write to flash": ("write32", 0x0800_0100, 0x0800_0100, "write", "application flash"),
    "byte write to the last flash byte": ("write8", 0x080F_FFFF, 0x080F_FFFF, "write", "flash"),
    "read of secure peripherals": ("read32", 0x5000_0000, 0x5000_0000, "read", "secure periph"),
    "word straddling the peripheral end": ("read32", 0x4FFF_FFFE, 0x5000_0000, "read", "secure"),
    "word straddling the SRAM end": ("read32", 0x2007_FFFE, 0x2008_0000, "read", "unmapped"),
    "word straddling the PPB end": ("read32", 0xE00F_FFFE, 0xE010_0000, "read", "unmapped"),
    "write to secure SRAM": ("write32", 0x3000_0000, 0x3000_0000, "write", "secure SRAM"),
}


@pytest.mark.parametrize(
    ("op", "address", "fault_address", "access", "region"), ACCESSES.values(), ids=ACCESSES.keys()
)
def test_data_access_outside_map_crashes(
    attacker: Any, op: str, address: int, fault_address: int, access: str, region: str
) -> None:
    flash_before = attacker.read(0x0800_0000, 0x200)
    report = attacker.crash(op, address, 0x5A5A5A5A)
    assert report.kind == "fault"
    assert report.fault_address == fault_address
    assert report.access == access
    assert region in report.detail
    assert report.symbols["pc"].startswith("run_request+")
    # Nothing was written: flash still holds the image.
    assert attacker.read(0x0800_0000, 0x200) == flash_before
    attacker.restarts()


def test_odd_peripheral_accesses_survive(attacker: Any) -> None:
    """Byte and halfword accesses at odd offsets read zero or merge; the app runs on."""
    cases = [
        ("read8", 0x4000_4425),  # USART2, inside a register
        ("read16", 0x4000_4426),
        ("read32", 0x4000_4401),  # unaligned word
        ("write8", 0x4000_4429, 0x41),
        ("write16", 0x4002_1003, 0xFFFF),
        ("read8", 0x4FFF_FFFF),  # last byte of the peripheral space
        ("write32", 0x4FFF_FFFC, 1),
        ("read16", 0xE000_ED05),  # ICSR, upper halfword
        ("write8", 0xE000_E4FF, 0xFF),  # priority byte of a non-existent IRQ
        ("write32", 0xE000_EF00, 0xFFFF_FFFF),  # STIR with an out-of-range IRQ
        ("write8", 0xE000_ED1B, 0xFF),  # SHPR1 byte
        ("read32", 0xE00F_FFFC),  # last word of the PPB
    ]
    for op, address, *value in cases:
        attacker.do(op, address, *value)
    assert attacker.crashes == []
    assert attacker.do("read32", 0xE000_ED00) == 0x410F_D214  # CPUID still answers


def test_unmodelled_scan_warnings_bounded(attacker: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING")
    assert attacker.do("unmodelled", 0x4F00_0000, 4096, max_us=2_000_000) == 0
    assert attacker.do("unmodelled", 0xE004_0000, 4096, max_us=2_000_000) == 0
    warnings = [r for r in caplog.records if "unmodelled" in r.getMessage()]
    assert 0 < len(warnings) <= 2 * 66
    assert any(r.getMessage().startswith("Stop warning") for r in warnings)
    # A second pass over the same registers adds no warning.
    before = len(caplog.records)
    attacker.do("unmodelled", 0x4F00_0000, 16)
    assert len(caplog.records) == before
    assert attacker.crashes == []


def test_gateway_read_rejected_after_restart(attacker: Any) -> None:
    for _ in range(3):
        report = attacker.crash("read32", 0x0C1F_E010)
        assert report.detail == "read of call gateway at 0x0c1fe010"
        attacker.restarts(seconds=10.0)
    attacker.crash("read8", 0x0C1F_EFFD)
    attacker.restarts(seconds=65.0)
    assert attacker.crash("read16", 0x0C1F_E24C).fault_address == 0x0C1F_E24C
