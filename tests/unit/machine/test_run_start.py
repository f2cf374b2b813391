"""Running a machine that has no defined start raises a host API error."""

from __future__ import annotations

import struct

import pytest

from openvisor.errors import EmulationError
from openvisor.machine import Machine, RunReason

# Vector table (SP, reset) then at 0x08000008: WFI; B.N back to the WFI.
IDLE_IMAGE = struct.pack("<II", 0x2008_0000, 0x0800_0009) + struct.pack("<HH", 0xBF30, 0xE7FD)


def test_run_without_reset_raises() -> None:
    machine = Machine()
    with pytest.raises(EmulationError, match=r"never reset.*load_elf\(\).*reset\(\)"):
        machine.run(max_cycles=1000)
    with pytest.raises(EmulationError, match="never reset"):
        machine.step()
    assert machine.cycles == 0


def test_run_after_load_without_reset_raises() -> None:
    machine = Machine()
    machine.load_image(IDLE_IMAGE)
    with pytest.raises(EmulationError, match="never reset"):
        machine.run(max_cycles=1000)


def test_run_after_reset_runs() -> None:
    machine = Machine()
    machine.load_image(IDLE_IMAGE)
    machine.reset()
    result = machine.run(max_cycles=1000)
    assert result.reason is RunReason.SLEEP
    assert machine.pc == 0x0800_000A


def test_run_after_host_sets_pc_runs() -> None:
    machine = Machine()
    machine.load_image(IDLE_IMAGE)
    machine.reg_write("sp", 0x2008_0000)
    machine.pc = 0x0800_0008
    result = machine.run(max_cycles=1000)
    assert result.reason is RunReason.SLEEP
