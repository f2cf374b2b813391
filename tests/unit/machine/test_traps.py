"""Trap hooks, the event register and the SCS rules, on tiny images and the NVIC state."""

from __future__ import annotations

import struct

import pytest

from openvisor.machine import Machine, RunReason
from openvisor.machine import nvic as nv
from openvisor.machine.traps import find_sev

# Vector table: SP, then every vector at 0x08000040, which contains B . (0xE7FE).
LOOP_IMAGE = struct.pack("<I15I", 0x2008_0000, *[0x0800_0041] * 15).ljust(0x40, b"\0")
LOOP_IMAGE += struct.pack("<H", 0xE7FE)
CCR = 0xE000_ED14
CFSR = 0xE000_ED28
CODE = 0x2000_1000
DATA = 0x2000_2000


@pytest.fixture
def machine() -> Machine:
    machine = Machine()
    machine.load_image(LOOP_IMAGE)
    machine.reset()
    return machine


def test_find_sev_both_encodings() -> None:
    # NOP, SEV, SEV.W (0xF3AF 0x8004), WFE.
    code = struct.pack("<5H", 0xBF00, 0xBF40, 0xF3AF, 0x8004, 0xBF20)
    assert find_sev(code, 0x0800_0000) == [0x0800_0002, 0x0800_0004]


def test_event_register_sources() -> None:
    state = nv.Nvic()
    assert not state.event
    state.activate(nv.SVCALL)
    assert state.event
    state.event = False
    state.deactivate(nv.SVCALL)
    assert state.event
    state.event = False
    state.set_pending(nv.IRQ_BASE + 3)  # SEVONPEND clear: no event
    assert not state.event
    state.sevonpend = True
    state.set_pending(nv.IRQ_BASE + 3)  # already pending: no transition
    assert not state.event
    state.set_pending(nv.IRQ_BASE + 4)  # disabled, but newly pending
    assert state.event


def test_wake_on_event_only_while_waiting() -> None:
    state = nv.Nvic()
    state.event = True
    assert not state.wake_on_event()
    assert state.event
    state.waiting_for_event = True
    assert state.wake_on_event()
    assert not state.event
    assert not state.waiting_for_event


def test_hooks_follow_ccr_bits(machine: Machine) -> None:
    traps = machine.traps
    assert not traps.armed
    assert not traps.unaligned_armed
    machine.bus_write(CCR, 4, (1 << 3) | (1 << 4))
    assert traps.armed
    assert traps.unaligned_armed
    machine.bus_write(CCR, 4, 0)
    assert not traps.armed
    assert not traps.unaligned_armed
    machine.bus_write(CCR, 4, 1 << 3)
    machine.reset()
    assert not traps.unaligned_armed


def test_nmi_pending_bits_are_raz_wi(machine: Machine) -> None:
    machine.bus_write(0xE000_ED04, 4, 1 << 31)
    assert nv.NMI not in machine.nvic.pending
    assert not machine.bus_read(0xE000_ED04) >> 31


def test_aircr_vectclractive_changes_nothing(machine: Machine) -> None:
    machine.nvic.active.add(nv.SVCALL)
    machine.bus_write(0xE000_ED0C, 4, (0x05FA << 16) | (1 << 1))
    assert machine.nvic.active == {nv.SVCALL}
    machine.bus_write(0xE000_ED0C, 4, (0x1234 << 16) | (5 << 8))
    assert machine.bus_read(0xE000_ED0C) == 0xFA05_0000


def test_scr_sevonpend_reaches_the_nvic(machine: Machine) -> None:
    machine.bus_write(0xE000_ED10, 4, 1 << 4)
    assert machine.nvic.sevonpend
    machine.bus_write(0xE000_ED10, 4, 0)
    assert not machine.nvic.sevonpend


def test_host_scs_read_while_unprivileged(machine: Machine) -> None:
    machine.reg_write("control", 1)
    assert machine.bus_read(0xE000_ED00) == 0x410F_D214
    assert not machine.traps.stopping


def _run_from_sram(machine: Machine, code: bytes) -> None:
    machine.mem_write(CODE, code)
    machine.pc = CODE


def test_step_sram_division_by_zero(machine: Machine) -> None:
    machine.bus_write(CCR, 4, 1 << 4)
    _run_from_sram(machine, struct.pack("<3H", 0xFB90, 0xF0F1, 0xE7FE))  # SDIV r0, r0, r1
    machine.reg_write("r0", 9)
    machine.reg_write("r1", 0)
    machine.step()
    # UsageFault is disabled: HardFault, forced, with the stacked PC at the SDIV.
    assert machine.current_exception() == nv.HARDFAULT
    assert machine.bus_read(CFSR) == 1 << 25
    frame = machine.reg_read("sp")
    assert machine.read_word(frame + 24) == CODE
    assert machine.read_word(frame) == 9  # stacked R0: the division did not run


def test_unaligned_store_is_undone(machine: Machine) -> None:
    machine.mem_write(DATA, bytes(range(8)))
    machine.bus_write(CCR, 4, 1 << 3)
    _run_from_sram(machine, struct.pack("<3H", 0x3001, 0x6008, 0xE7FE))  # ADDS r0, #1; STR r0, [r1]
    machine.reg_write("r0", 0x1111_1111)
    machine.reg_write("r1", DATA + 1)
    start = machine.cycles
    # The block (ADDS, STR, B) is counted as it starts. The abandoned STR and
    # the B are taken back, so a budget of one instruction ends right after it.
    result = machine.run(max_cycles=1)
    assert result.reason is RunReason.BUDGET
    assert machine.cycles - start == 1
    assert machine.current_exception() == nv.HARDFAULT
    assert machine.bus_read(CFSR) == 1 << 24
    assert machine.mem_read(DATA, 8) == bytes(range(8))
    frame = machine.reg_read("sp")
    assert machine.read_word(frame + 24) == CODE + 2
    assert machine.read_word(frame) == 0x1111_1112  # the ADDS ran, the STR did not
