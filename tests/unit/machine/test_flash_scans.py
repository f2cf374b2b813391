"""Flash scans on image install: stored per image, and exact over written flash."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import pytest

from openvisor.machine import Machine, stacklimits, traps
from openvisor.machine import memory_map as mm
from openvisor.machine.loader import raw_image

VECTORS = struct.pack("<II", 0x2008_0000, 0x0800_0009)
SEV = struct.pack("<H", 0xBF40)
MSR_MSPLIM_R0 = struct.pack("<HH", 0xF380, 0x880A)
UDIV_R0_R1_R2 = struct.pack("<HH", 0xFBB1, 0xF0F2)
# At 0x08000008: SEV; MSR MSPLIM, r0; UDIV r0, r1, r2; B.N to itself. After that
# the first halfword of a UDIV whose second halfword is erased flash (0xFFFF).
IMAGE = VECTORS + SEV + MSR_MSPLIM_R0 + UDIV_R0_R1_R2 + struct.pack("<HH", 0xE7FE, 0xFBB0)

SCANS: dict[str, Callable[[bytes, int], Any]] = {
    "sev": traps.find_sev,
    "limit_writes": stacklimits.find_limit_writes,
    "divisions": traps.find_divisions,
}


def _full_scan(machine: Machine, scan: Callable[[bytes, int], Any]) -> Any:
    return scan(machine.mem_read(mm.FLASH_BASE, mm.FLASH_SIZE), mm.FLASH_BASE)


@pytest.mark.parametrize("name", list(SCANS))
def test_scan_matches_whole_flash(name: str) -> None:
    machine = Machine()
    machine.load_image(IMAGE)
    scan = SCANS[name]

    assert machine.scan_flash(name, scan) == _full_scan(machine, scan)


def test_scan_finds_every_encoding() -> None:
    machine = Machine()
    machine.load_image(IMAGE)

    assert machine.scan_flash("sev", traps.find_sev) == [0x0800_0008]
    assert machine.scan_flash("limit_writes", stacklimits.find_limit_writes) == [0x0800_000A]
    divisions = machine.scan_flash("divisions", traps.find_divisions)
    assert divisions == {0x0800_000E: 2, 0x0800_0014: 0xF}


def test_install_reuses_stored_scans(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counted(name: str, scan: Callable[[bytes, int], Any]) -> Callable[[bytes, int], Any]:
        def wrapper(code: bytes, base: int) -> Any:
            calls.append(name)
            return scan(code, base)

        return wrapper

    monkeypatch.setattr(traps, "find_sev", counted("sev", traps.find_sev))
    monkeypatch.setattr(
        stacklimits, "find_limit_writes", counted("limit_writes", stacklimits.find_limit_writes)
    )
    image = raw_image(IMAGE)
    machine = Machine()
    machine.install_image(image)
    assert sorted(calls) == ["limit_writes", "sev"]
    assert image.scans["sev"] == [0x0800_0008]

    machine.install_image(image)
    Machine().install_image(image)
    assert sorted(calls) == ["limit_writes", "sev"]
    # Unhooking on reinstall must not empty the stored list.
    assert image.scans["limit_writes"] == [0x0800_000A]


def test_flash_write_drops_stored_scans() -> None:
    image = raw_image(IMAGE)
    machine = Machine()
    machine.install_image(image)
    assert machine.scan_flash("sev", traps.find_sev) == [0x0800_0008]

    # A host write far past the image (a debugger's load) must be seen by the next scan.
    machine.mem_write(0x0800_4000, SEV)

    assert machine.scan_flash("sev", traps.find_sev) == [0x0800_0008, 0x0800_4000]
    assert image.scans["sev"] == [0x0800_0008]


def test_reinstall_erases_host_writes() -> None:
    image = raw_image(IMAGE)
    machine = Machine()
    machine.install_image(image)
    machine.mem_write(0x0800_4000, SEV)
    machine.install_image(image)

    assert machine.read_word(0x0800_4000) == 0xFFFF_FFFF
    assert machine.scan_flash("sev", traps.find_sev) == [0x0800_0008]
