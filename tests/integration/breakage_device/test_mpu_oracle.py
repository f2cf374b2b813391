"""Random MPU configurations and access sequences from x_mpu_oracle, checked against PMSAv8.

Each trial programs six random regions (overlapping, empty, limit below
base, boundaries inside a page) over a test window of SRAM and flash,
then runs loads, stores, byte loads and calls there, toggling privilege
and MPU_CTRL.ENABLE between them. Every access must fault exactly when
`allowed` returns False, whatever the order of earlier accesses. This
exercises the page permissions, the native hook and Unicorn's caches.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from openvisor.machine import Machine

REQUEST = 0x2007_0000
OPS_OFFSET = 0x60
MAX_OPS = 192
RESULTS_OFFSET = OPS_OFFSET + 8 * MAX_OPS
DONE = 0xC0FFEE
WINDOWS = [(0x2001_0000, 0x1_0000), (0x0801_0000, 0x1_0000)]
BX_LR = b"\x70\x47"
LOAD, STORE, LOAD_BYTE, CALL, TOGGLE_PRIVILEGE, TOGGLE_MPU = range(6)
SIZES = {LOAD: 4, STORE: 4, LOAD_BYTE: 1, CALL: 2}
CTRL_ENABLE = 1
CTRL_PRIVDEFENA = 4
# Region 6: the image's flash, read-only and executable for all. Region 7:
# the request block and the main stack, read-write and execute-never for all.
FIXED_REGIONS = [
    (0x0800_0000 | (3 << 1), 0x0800_FFE0 | 1),
    (0x2007_0000 | (1 << 1) | 1, 0x2007_FFE0 | 1),
]


def allowed(
    regions: list[tuple[int, int]], ctrl: int, address: int, kind: int, privileged: bool
) -> bool:
    """Return whether PMSAv8 lets the access proceed (both end bytes decide)."""
    if not ctrl & CTRL_ENABLE:
        return True

    def byte_allowed(byte: int) -> bool:
        hits = [rbar for rbar, rlar in regions if rlar & 1 and rbar & ~31 <= byte <= rlar | 31]
        if len(hits) > 1:
            return False
        if not hits:
            return privileged and bool(ctrl & CTRL_PRIVDEFENA)
        rbar = hits[0]
        access_permissions = (rbar >> 1) & 3
        if not privileged and access_permissions in (0, 2):
            return False
        if kind == STORE and access_permissions in (2, 3):
            return False
        return not (kind == CALL and rbar & 1)

    return byte_allowed(address) and byte_allowed(address + SIZES[kind] - 1)


def random_regions(rnd: random.Random) -> list[tuple[int, int]]:
    regions = []
    for _ in range(6):
        if rnd.random() < 0.25:
            regions.append((0, 0))
            continue
        window, size = rnd.choice(WINDOWS)
        step = 32 if rnd.random() < 0.7 else 0x1000
        base = window + rnd.randrange(0, size, step)
        length = rnd.choice([32, 64, 0x1000, 0x2000, rnd.randrange(32, 0x4000, 32)])
        limit = base + length - 32 if rnd.random() > 0.1 else base - 0x40
        rbar = base | (rnd.randrange(4) << 1) | int(rnd.random() < 0.3)
        rlar = (limit & ~31) | int(rnd.random() < 0.9)
        regions.append((rbar, rlar))
    return regions + FIXED_REGIONS


def random_ops(rnd: random.Random, regions: list[tuple[int, int]]) -> list[tuple[int, int]]:
    ops: list[tuple[int, int]] = []
    while len(ops) < 150:
        kind = rnd.choice([LOAD, STORE, LOAD_BYTE, CALL] * 3 + [TOGGLE_PRIVILEGE, TOGGLE_MPU])
        if kind in (TOGGLE_PRIVILEGE, TOGGLE_MPU):
            ops.append((kind, 0))
            continue
        rbar, rlar = rnd.choice(regions[:6])
        if ops and rnd.random() < 0.4:
            address = (ops[-1][1] & ~0xFFF) | rnd.randrange(0, 0x1000, 4)
        elif rbar and rnd.random() < 0.5:
            edges = [(rbar & ~31) - 4, rbar & ~31, (rlar | 31) - 3, (rlar | 31) + 1]
            address = rnd.choice(edges) & ~3
        else:
            window, size = rnd.choice(WINDOWS)
            address = window + rnd.randrange(0, size, 4)
        if not any(window <= address < window + size for window, size in WINDOWS):
            continue
        if kind == STORE and address < 0x2000_0000:
            kind = LOAD  # a flash write the MPU allows ends the app
        ops.append((kind, address))
    return ops


@pytest.fixture(scope="module")
def oracle_elf(firmware: Callable[[str], Path]) -> Path:
    return firmware("x_mpu_oracle")


@pytest.mark.parametrize("seed", range(32))
def test_mpu_matches_pmsav8_rules(oracle_elf: Path, seed: int) -> None:
    rnd = random.Random(seed)
    regions = random_regions(rnd)
    ctrl = rnd.choice([1, 3, 5, 7, 0])
    unprivileged = rnd.random() < 0.5
    ops = random_ops(rnd, regions)

    machine = Machine()
    machine._native_exceptions = seed % 2 == 0
    machine.load_elf(oracle_elf)
    machine.mem_write(WINDOWS[1][0], BX_LR * (WINDOWS[1][1] // 2))
    machine.reset()
    machine.mem_write(WINDOWS[0][0], BX_LR * (WINDOWS[0][1] // 2))
    header = struct.pack("<4I", len(ops), ctrl, int(unprivileged), 0)
    header += struct.pack("<8I", *(rbar for rbar, _ in regions))
    header += struct.pack("<8I", *(rlar for _, rlar in regions))
    machine.mem_write(REQUEST, header)
    machine.mem_write(REQUEST + OPS_OFFSET, b"".join(struct.pack("<II", *op) for op in ops))
    result = machine.run(max_cycles=400_000)

    done = struct.unpack("<I", machine.mem_read(REQUEST + 12, 4))[0]
    assert done == DONE, (result, regions, ctrl)
    raw = machine.mem_read(REQUEST + RESULTS_OFFSET, 4 * len(ops))
    results = struct.unpack(f"<{len(ops)}I", raw)
    privileged = not unprivileged
    mismatches = []
    for index, ((kind, address), outcome) in enumerate(zip(ops, results, strict=True)):
        if kind == TOGGLE_PRIVILEGE:
            privileged = not privileged
            continue
        if kind == TOGGLE_MPU:
            ctrl ^= CTRL_ENABLE
            continue
        expected = allowed(regions, ctrl, address, kind, privileged)
        if expected != (outcome == 0):
            mismatches.append((index, kind, hex(address), privileged, ctrl, hex(outcome)))
    assert mismatches == [], [(hex(rbar), hex(rlar)) for rbar, rlar in regions]
