"""Machine API on a tiny raw image: registers, memory, events, errors."""

from __future__ import annotations

import struct

import pytest

from openvisor.errors import EmulationError, ImageError, MemoryAccessError
from openvisor.machine import Machine, RunReason

# Vector table (SP, reset) then at 0x08000008: WFI; B.N back to the WFI.
IDLE_IMAGE = struct.pack("<II", 0x2008_0000, 0x0800_0009) + struct.pack("<HH", 0xBF30, 0xE7FD)
# At 0x08000008: ADDS r0, #1; B.N back: a busy loop of 2 instructions.
BUSY_IMAGE = struct.pack("<II", 0x2008_0000, 0x0800_0009) + struct.pack("<HH", 0x3001, 0xE7FD)


@pytest.fixture(scope="module")
def machine() -> Machine:
    machine = Machine()
    machine.load_image(IDLE_IMAGE)
    return machine


def test_reset_boots_from_vector_table(machine: Machine) -> None:
    machine.reset()
    assert machine.pc == 0x0800_0008
    assert machine.reg_read("sp") == 0x2008_0000
    assert machine.reg_read("msp") == 0x2008_0000
    assert machine.reg_read("control") == 0
    assert machine.current_exception() == 0


def test_registers_by_name(machine: Machine) -> None:
    machine.reset()
    machine.reg_write("r7", 0xDEADBEEF)
    assert machine.reg_read("R7") == 0xDEADBEEF
    machine.reg_write("s3", 0x3F80_0000)
    assert machine.reg_read("s3") == 0x3F80_0000
    with pytest.raises(EmulationError, match="unknown register 'x9'"):
        machine.reg_read("x9")


def test_raw_memory_access(machine: Machine) -> None:
    machine.mem_write(0x2000_0100, b"\x01\x02\x03")
    assert machine.mem_read(0x2000_0100, 3) == b"\x01\x02\x03"
    assert machine.mem_read(0x0800_0000, 4) == struct.pack("<I", 0x2008_0000)
    # Raw writes reach flash, which the app itself cannot write.
    machine.mem_write(0x0800_0100, b"\xaa\x55")
    assert machine.mem_read(0x0800_0100, 2) == b"\xaa\x55"
    with pytest.raises(MemoryAccessError) as info:
        machine.mem_read(0x3000_0000, 4)
    assert info.value.address == 0x3000_0000
    assert info.value.size == 4


def test_sleeping_core_fast_forwards_to_events(machine: Machine) -> None:
    machine.reset()
    start = machine.cycles
    fired: list[int] = []
    machine.schedule(start + 5_000, lambda: fired.append(machine.cycles))
    result = machine.run(max_cycles=10_000)
    assert result.reason is RunReason.SLEEP
    assert fired == [start + 5_000]
    assert machine.cycles == start + 10_000
    assert machine.sleeping


def test_cancelled_event_does_not_fire(machine: Machine) -> None:
    machine.reset()
    fired: list[int] = []
    event = machine.schedule(machine.cycles + 100, lambda: fired.append(1))
    event.cancel()
    machine.run(max_cycles=1_000)
    assert fired == []


def test_busy_loop_counts_instructions() -> None:
    machine = Machine()
    machine.load_image(BUSY_IMAGE)
    machine.reset()
    result = machine.run(max_cycles=1_000)
    assert result.reason is RunReason.BUDGET
    assert result.cycles == 1_000
    # ADDS runs once per 2-instruction iteration.
    assert machine.reg_read("r0") == 500
    assert machine.micros() == machine.cycles // 160


def test_request_stop_from_event(machine: Machine) -> None:
    machine.reset()
    machine.schedule(machine.cycles + 50, machine.request_stop)
    result = machine.run(max_cycles=100_000)
    assert result.reason is RunReason.STOP
    assert result.cycles == 50


def test_pend_irq_range(machine: Machine) -> None:
    with pytest.raises(EmulationError, match="IRQ number 125 is out of range"):
        machine.pend_irq(125)


def test_load_image_rejects_short_data(machine: Machine) -> None:
    with pytest.raises(ImageError):
        machine.load_image(b"\x00")


def test_negative_budget_is_rejected(machine: Machine) -> None:
    with pytest.raises(EmulationError, match="max_cycles=-1"):
        machine.run(max_cycles=-1)
