"""Random loads, stores and branches at the edges of the map: the outcome is the map's.

An access inside the app's map completes; one that touches any byte outside
it crashes the app, which restarts. The host never raises.
"""

from __future__ import annotations

import random
from typing import Any

from openvisor.device import DeviceState

# Edges of every region of the map, where off-by-one errors live.
EDGES = [
    0x0000_0000,
    0x07FF_FFFC,
    0x0800_0000,
    0x080F_FFFC,
    0x0810_0000,
    0x0C00_0000,
    0x0C1F_E000,
    0x0C1F_E24C,
    0x0C1F_EFFC,
    0x0C1F_F000,
    0x1FFF_FFFC,
    0x2007_FFFC,
    0x2008_0000,
    0x3000_0000,
    0x3FFF_FFFC,
    0x4000_0000,
    0x4002_1000,
    0x4FFF_FFFC,
    0x5000_0000,
    0xE000_E000,
    0xE00F_FFFC,
    0xE010_0000,
    0xFFFF_FFFC,
]
SIZES = {"read8": 1, "read16": 2, "read32": 4, "write8": 1, "write16": 2, "write32": 4}
READABLE = [(0x0800_0000, 0x0810_0000), (0x2000_0000, 0x2008_0000), (0x4000_0000, 0x5000_0000)]
READABLE.append((0xE000_0000, 0xE010_0000))
WRITABLE = [(0x2000_0000, 0x2008_0000), (0x4000_0000, 0x5000_0000)]


def _inside(address: int, size: int, regions: list[tuple[int, int]]) -> bool:
    return any(start <= address and address + size <= end for start, end in regions)


def _expected(op: str, address: int) -> str | None:
    if op == "call":
        return None  # code at an edge of the map may do anything
    regions = WRITABLE if op.startswith("write") else READABLE
    return "done" if _inside(address, SIZES[op], regions) else "crash"


def test_random_accesses_at_region_edges(make_attacker: Any) -> None:
    rng = random.Random(20261204)
    attacker = make_attacker(stuck_in_fault_s=0.02, slice_us=500_000)
    outcomes = {"done": 0, "crash": 0}
    for _ in range(40):
        op = rng.choice([*SIZES, "call"])
        address = (rng.choice(EDGES) + rng.choice([-2, -1, 0, 1, 2, 3, 4, 6])) & 0xFFFF_FFFF
        if op.startswith("write") and (
            0x2000_0000 <= address < 0x2008_0000 or address >= 0xE000_0000
        ):
            continue  # stores into the app's SRAM or system registers are tested on their own
        crashes = attacker.crash_count
        attacker.post(op, address, rng.getrandbits(32))
        attacker.device.run_for(
            1.5,
            until=lambda c=crashes: (
                attacker.crash_count > c or attacker.field("done") == attacker.seq
            ),
        )
        outcome = "crash" if attacker.crash_count > crashes else "done"
        if outcome == "done":
            assert attacker.field("done") == attacker.seq, (op, hex(address))
        expected = _expected(op, address)
        assert expected in (None, outcome), (op, hex(address), outcome)
        outcomes[outcome] += 1
        if outcome == "crash":
            report = attacker.crashes[-1]
            assert report.kind in ("fault", "gateway", "lockup", "stuck-in-fault"), report
            attacker.restarts(seconds=65.0)
        assert attacker.device.state is DeviceState.RUNNING
    assert outcomes["done"] > 5
    assert outcomes["crash"] > 5
