"""MPU region decoding, page permissions and the native access check."""

from __future__ import annotations

import pytest
from unicorn import unicorn_const as ucc

from openvisor.machine import Machine
from openvisor.machine import memory_map as mm
from openvisor.machine.mpu import (
    CTRL_ENABLE,
    CTRL_HFNMIENA,
    CTRL_PRIVDEFENA,
    FETCH,
    READ,
    WRITE,
    Region,
    decode_regions,
    needs_read_checks,
    page_permissions,
)

MPU = 0xE000_ED90
CTRL = 0xE000_ED94
RNR = 0xE000_ED98
RBAR = 0xE000_ED9C
RLAR = 0xE000_EDA0
RBAR_A1 = 0xE000_EDA4
RLAR_A1 = 0xE000_EDA8


def test_region_decode_fields() -> None:
    region = Region.decode(3, 0x2000_1020 | 0b111, 0x2000_13E0 | (5 << 1) | 1)
    assert region.number == 3
    assert region.base == 0x2000_1020
    assert region.limit == 0x2000_13FF
    assert region.access_permissions == 3
    assert region.execute_never is True
    assert region.attribute_index == 5
    assert region.enabled is True


def test_region_limit_is_inclusive_granule() -> None:
    region = Region.decode(0, 0x2000_0000, 0x2000_0000 | 1)
    assert region.limit == 0x2000_001F


@pytest.mark.parametrize(
    ("ap", "privileged", "expected"),
    [
        (0, True, ucc.UC_PROT_READ | ucc.UC_PROT_WRITE | ucc.UC_PROT_EXEC),
        (0, False, ucc.UC_PROT_NONE),
        (1, False, ucc.UC_PROT_READ | ucc.UC_PROT_WRITE | ucc.UC_PROT_EXEC),
        (2, True, ucc.UC_PROT_READ | ucc.UC_PROT_EXEC),
        (2, False, ucc.UC_PROT_NONE),
        (3, False, ucc.UC_PROT_READ | ucc.UC_PROT_EXEC),
    ],
)
def test_region_permissions_by_ap(ap: int, privileged: bool, expected: int) -> None:
    region = Region.decode(0, 0x2000_0000 | (ap << 1), 0x2000_0FE1)
    assert region.permissions(privileged) == expected


def test_region_execute_never_drops_exec() -> None:
    region = Region.decode(0, 0x2000_0000 | (1 << 1) | 1, 0x2000_0FE1)
    assert region.permissions(False) == ucc.UC_PROT_READ | ucc.UC_PROT_WRITE


def test_page_permissions_cases() -> None:
    whole = decode_regions([0x2000_0000 | (1 << 1) | 1] + [0] * 7, [0x2000_1FE1] + [0] * 7)
    base = ucc.UC_PROT_ALL
    page = 0x2000_1000
    assert page_permissions(whole, 0, page, 0x1000, base) == base
    assert page_permissions(whole, CTRL_ENABLE, page, 0x1000, base) == (
        ucc.UC_PROT_READ | ucc.UC_PROT_WRITE
    )
    # Outside every region: unprivileged code has no access.
    assert page_permissions(whole, CTRL_ENABLE, 0x2000_2000, 0x1000, base) == ucc.UC_PROT_NONE
    partial = decode_regions([0x2000_1020 | (1 << 1)] + [0] * 7, [0x2000_1FE1] + [0] * 7)
    assert page_permissions(partial, CTRL_ENABLE, page, 0x1000, base) == ucc.UC_PROT_NONE
    overlap = decode_regions(
        [0x2000_0000 | (1 << 1), 0x2000_1800 | (1 << 1)] + [0] * 6,
        [0x2000_1FE1, 0x2000_1FE1] + [0] * 6,
    )
    assert page_permissions(overlap, CTRL_ENABLE, page, 0x1000, base) == ucc.UC_PROT_NONE


@pytest.fixture
def machine() -> Machine:
    machine = Machine()
    machine.reset()
    return machine


def _region(machine: Machine, number: int, rbar: int, rlar: int) -> None:
    machine.bus_write(RNR, 4, number)
    machine.bus_write(RBAR, 4, rbar)
    machine.bus_write(RLAR, 4, rlar)


def test_registers_and_aliases(machine: Machine) -> None:
    assert machine.bus_read(MPU) == 0x800
    # Alias n selects region RNR[7:2]:n, so with RNR = 2 alias 1 is region 1.
    machine.bus_write(RNR, 4, 2)
    machine.bus_write(RBAR_A1, 4, 0x2000_0006)
    machine.bus_write(RLAR_A1, 4, 0x2000_0FE1)
    assert machine.bus_read(RBAR_A1) == 0x2000_0006
    machine.bus_write(RNR, 4, 1)
    assert machine.bus_read(RBAR) == 0x2000_0006
    assert machine.bus_read(RLAR) == 0x2000_0FE1
    assert machine.mpu.regions()[1].enabled
    assert not machine.mpu.regions()[2].enabled
    assert not machine.mpu.regions()[3].enabled


def test_native_check_matches_rules(machine: Machine) -> None:
    mpu = machine.mpu
    _region(machine, 0, 0x2000_0000 | (1 << 1) | 1, 0x2000_00E1)  # RW any, XN
    _region(machine, 1, 0x2000_0100 | (3 << 1), 0x2000_01E1)  # RO any
    _region(machine, 2, 0x2000_0200 | (0 << 1), 0x2000_02E1)  # privileged RW
    machine.bus_write(CTRL, 4, CTRL_ENABLE)
    assert mpu.allows(0x2000_0010, 4, WRITE, privileged=False)
    assert not mpu.allows(0x2000_0010, 2, FETCH, privileged=True)
    assert mpu.allows(0x2000_0100, 4, FETCH, privileged=False)
    assert not mpu.allows(0x2000_0100, 4, WRITE, privileged=True)
    assert not mpu.allows(0x2000_0200, 4, READ, privileged=False)
    assert mpu.allows(0x2000_0200, 4, WRITE, privileged=True)
    # An access that straddles two regions needs both to allow it.
    assert not mpu.allows(0x2000_00FE, 4, WRITE, privileged=False)
    # A hole: the default map only for privileged accesses with PRIVDEFENA.
    assert not mpu.allows(0x2000_0400, 4, READ, privileged=True)
    machine.bus_write(CTRL, 4, CTRL_ENABLE | CTRL_PRIVDEFENA)
    assert mpu.allows(0x2000_0400, 4, READ, privileged=True)
    assert not mpu.allows(0x2000_0400, 4, READ, privileged=False)
    _region(machine, 3, 0x2000_0000 | (1 << 1), 0x2000_0021)
    assert not mpu.allows(0x2000_0010, 4, READ, privileged=True)  # overlap


def test_apply_strips_and_restores_pages(machine: Machine) -> None:
    _region(machine, 0, mm.SRAM_BASE | (1 << 1) | 1, 0x2000_0FE1)
    machine.bus_write(CTRL, 4, CTRL_ENABLE)
    machine.mpu.apply()
    perms = {start: p for start, _, p in machine._uc.mem_regions()}
    assert perms[mm.SRAM_BASE] == ucc.UC_PROT_READ | ucc.UC_PROT_WRITE
    assert perms[mm.SRAM_BASE + 0x1000] == ucc.UC_PROT_NONE
    assert perms[mm.FLASH_BASE] == ucc.UC_PROT_NONE
    machine.bus_write(CTRL, 4, 0)
    machine.mpu.apply()
    perms = {start: p for start, _, p in machine._uc.mem_regions()}
    assert perms[mm.SRAM_BASE] == ucc.UC_PROT_ALL
    assert perms[mm.SRAM_BASE + 0x1000] == ucc.UC_PROT_ALL
    assert perms[mm.FLASH_BASE] == ucc.UC_PROT_READ | ucc.UC_PROT_EXEC


def _regions(*pairs: tuple[int, int]) -> list[Region]:
    rbar = [pair[0] for pair in pairs] + [0] * (8 - len(pairs))
    rlar = [pair[1] for pair in pairs] + [0] * (8 - len(pairs))
    return decode_regions(rbar, rlar)


def test_read_checks_by_layout() -> None:
    page = 0x2000_1000
    whole = _regions((page | (1 << 1), 0x2000_1FE1))
    assert not needs_read_checks(whole, CTRL_ENABLE, [page], 0x1000)
    assert not needs_read_checks(whole, 0, [page], 0x1000)
    # A guard: the region starts 32 bytes into the page.
    guard = _regions((page + 0x20, 0x2000_1FE1))
    assert needs_read_checks(guard, CTRL_ENABLE, [page], 0x1000)
    # A page with no region: HardFault could read it past the MPU.
    none = _regions()
    assert needs_read_checks(none, CTRL_ENABLE, [page], 0x1000)
    assert not needs_read_checks(none, CTRL_ENABLE | CTRL_PRIVDEFENA, [page], 0x1000)
    assert not needs_read_checks(none, CTRL_ENABLE | CTRL_HFNMIENA, [page], 0x1000)
    overlap = _regions((page, 0x2000_1FE1), (page, 0x2000_1FE1))
    assert needs_read_checks(overlap, CTRL_ENABLE | CTRL_PRIVDEFENA, [page], 0x1000)
    assert not needs_read_checks(overlap, CTRL_ENABLE | CTRL_HFNMIENA, [page], 0x1000)
