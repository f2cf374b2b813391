"""Hostile exception handling: bad stacks, forged returns, broken vector tables, faults in faults."""

from __future__ import annotations

import struct
from typing import Any

import pytest

PENDSV = 14
UFSR_INVSTATE = 1 << 17
UFSR_INVPC = 1 << 18
UFSR_STKOF = 1 << 20

STACKS = {
    "MSP in secure SRAM": ("svc_on_sp", 0x3000_0100),
    "MSP in unmapped space": ("svc_on_sp", 0x6000_0100),
    "MSP just above the SRAM base": ("svc_on_sp", 0x2000_0008),
    "PSP in secure SRAM": ("svc_on_psp", 0x3000_0100),
    "PSP at address zero": ("svc_on_psp", 0x0000_0000),
}


@pytest.mark.parametrize(("op", "sp"), STACKS.values(), ids=STACKS.keys())
def test_stacking_outside_sram_crashes(attacker: Any, op: str, sp: int) -> None:
    report = attacker.crash(op, sp)
    assert report.kind == "fault"
    assert "stacking" in report.detail
    frame = (sp - 0x20) & ~7 & 0xFFFF_FFFF
    assert report.fault_address == frame
    # The report copies the stack only from SRAM.
    assert (report.stack == "") == (not 0x2000_0000 <= sp < 0x2008_0000)
    attacker.restarts()


def test_non_secure_exc_return_resumes(attacker: Any) -> None:
    attacker.set_field("exc_return", 0xFFFF_FFB8)  # Thread mode, MSP, basic frame
    assert attacker.do("svc") == 0
    assert attacker.crashes == []


def test_exc_return_mode_mismatch_faults(make_attacker: Any) -> None:
    attacker = make_attacker(stuck_in_fault_s=0.05)
    attacker.set_field("exc_return", 0xFFFF_FFB0)  # Handler mode, but SVC interrupted Thread mode
    report = attacker.crash("svc", seconds=0.5)
    assert report.kind == "stuck-in-fault"
    assert attacker.machine.exception_unit.cfsr & UFSR_INVPC
    assert attacker.field("hardfaults") == 1


SECURE_EXC_RETURNS = {
    "Armv7-M Thread/PSP (S and ES set)": 0xFFFF_FFFD,
    "Armv7-M Thread/MSP (S and ES set)": 0xFFFF_FFF9,
    "ES set only": 0xFFFF_FFB9,
    "S set only": 0xFFFF_FFF8,
    "DCRS clear": 0xFFFF_FF98,
    "extended frame, S and ES set": 0xFFFF_FFE9,
    "all low bits clear": 0xFFFF_FF00,
    "FNC_RETURN": 0xFEFF_FFFF,
}


@pytest.mark.parametrize("exc_return", SECURE_EXC_RETURNS.values(), ids=SECURE_EXC_RETURNS.keys())
def test_secure_exc_return_crashes(attacker: Any, exc_return: int) -> None:
    """A SecureFault on silicon: the microvisor ends the app, whatever PSP holds."""
    attacker.set_field("exc_return", exc_return)
    report = attacker.crash("svc")
    assert report.kind == "fault"
    assert "Secure" in report.detail
    assert f"{exc_return:#010x}" in report.detail
    attacker.restarts()


def test_unstacking_outside_sram_crashes(attacker: Any) -> None:
    attacker.set_field("exc_return", 0xFFFF_FFBC)  # Thread mode on PSP, which is still 0
    report = attacker.crash("svc")
    assert report.kind == "fault"
    assert "unstacking" in report.detail
    assert report.fault_address == 0
    attacker.restarts()


def test_fault_in_hardfault_locks_up(attacker: Any) -> None:
    attacker.set_field("hardfault_mode", 1)
    report = attacker.crash("udf")
    assert report.kind == "lockup"
    assert report.symbols["pc"].startswith("HardFault_Handler+")
    assert attacker.field("hardfaults") == 1
    attacker.restarts()


def test_hardfault_asleep_is_stuck(make_attacker: Any) -> None:
    attacker = make_attacker(stuck_in_fault_s=0.3)
    attacker.set_field("hardfault_mode", 2)
    started = attacker.device.kernel.micros()
    report = attacker.crash("udf", seconds=1.0)
    assert report.kind == "stuck-in-fault"
    assert report.symbols["pc"].startswith("HardFault_Handler+")
    assert 300_000 < report.micros - started <= 300_000 + 2 * attacker.device.config.slice_us
    attacker.restarts()


def test_stack_limit_reaches_hardfault(make_attacker: Any) -> None:
    attacker = make_attacker(stuck_in_fault_s=0.05)
    report = attacker.crash("msplim", 0, 64, seconds=0.5)
    assert attacker.machine.exception_unit.cfsr & UFSR_STKOF
    assert attacker.field("hardfaults") >= 1
    assert report.kind in ("stuck-in-fault", "lockup")
    attacker.restarts()


VTORS = {
    "call gateway": (0x0C1F_E000, "lockup"),
    "secure SRAM": (0x3000_0000, "lockup"),
    "unmapped space": (0x6000_0000, "lockup"),
    "peripherals": (0x4000_0000, "lockup"),
}


@pytest.mark.parametrize(("vtor", "kind"), VTORS.values(), ids=VTORS.keys())
def test_foreign_vector_table_crashes(attacker: Any, vtor: int, kind: str) -> None:
    report = attacker.crash("vtor", vtor)
    assert report.kind == kind
    assert report.fault_address == vtor + 4 * PENDSV
    assert "vector table read" in report.detail
    attacker.restarts()


def _sram_vector_table(attacker: Any, pendsv: int) -> int:
    table = attacker.arena
    attacker.write(table, attacker.read(0x0800_0000, 4 * (16 + 125)))
    attacker.write(table + 4 * PENDSV, struct.pack("<I", pendsv))
    return int(table)


def test_sram_vector_table_works(attacker: Any) -> None:
    table = _sram_vector_table(attacker, attacker.symbols["pendsv_counter"] | 1)
    assert attacker.do("vtor", table) == 1
    assert attacker.field("irq_count") == 1


def test_vector_without_thumb_bit_faults(make_attacker: Any) -> None:
    attacker = make_attacker(stuck_in_fault_s=0.05)
    table = _sram_vector_table(attacker, attacker.symbols["pendsv_counter"] & ~1)
    report = attacker.crash("vtor", table, seconds=0.5)
    assert report.kind == "stuck-in-fault"
    assert attacker.machine.exception_unit.cfsr & UFSR_INVSTATE
    assert attacker.field("irq_count") == 0


def test_garbage_vector_table_crashes(attacker: Any) -> None:
    table = attacker.arena
    attacker.write(table, b"\xa5" * 4 * (16 + 125))
    report = attacker.crash("vtor", table)
    assert report.kind == "fault"
    assert report.access == "fetch"
    assert report.fault_address == 0xA5A5_A5A4
    attacker.restarts()


def test_system_reset_restarts_app(attacker: Any) -> None:
    boots = attacker.device.boot_count
    attacker.post("write32", 0xE000_ED0C, (0x05FA << 16) | (1 << 2))
    attacker.device.run_for(0.01, until=lambda: attacker.device.boot_count > boots)
    assert attacker.device.boot_count == boots + 1
    assert attacker.crashes == []


def test_preempted_fault_handler_is_stuck(
    make_attacker: Any,
) -> None:
    """SysTick preempts a spinning UsageFault handler and runs at every slice boundary."""
    attacker = make_attacker(stuck_in_fault_s=0.2)
    report = attacker.crash("fault_under_ticks", 0, 16_000, 5_300, seconds=0.5)
    assert report.kind == "stuck-in-fault"
    assert 6 in attacker.machine.nvic.active  # UsageFault, under SysTick
    assert attacker.field("tick_count") > 100
    attacker.restarts()
