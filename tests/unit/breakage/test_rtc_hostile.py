"""Hostile RTC use: register garbage, extreme wake-up periods, alarms every second, bad state."""

from __future__ import annotations

import logging
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openvisor.machine import Machine
from openvisor.peripherals import rtc as rtc_model

RTC = 0x4600_7800
PWR_DBPR = 0x4602_0828
ICSR, WUTR, CR, WPR, ALRMAR, SR, SCR = 0x0C, 0x14, 0x18, 0x24, 0x40, 0x50, 0x5C
ICSR_WUTWF = 1 << 2
CR_ALRAE, CR_WUTE, CR_ALRAIE, CR_WUTIE = 1 << 8, 1 << 10, 1 << 12, 1 << 14
SR_ALRAF, SR_WUTF = 1 << 0, 1 << 2
ALARM_EVERY_SECOND = (1 << 31) | (1 << 23) | (1 << 15) | (1 << 7)
CLOCK_HZ = 160_000_000
IDLE_IMAGE = struct.pack("<II", 0x2008_0000, 0x0800_0009) + struct.pack("<HH", 0xBF30, 0xE7FD)
"""Initial MSP, reset vector, then WFI in a loop."""
MAX_WAKEUP_S = 0xFFFF + 0x1_0000 + 1  # WUCKSEL 6 at 1 Hz ck_spre


def unlocked_machine() -> Machine:
    machine = Machine()
    machine.load_image(IDLE_IMAGE)
    machine.reset()
    machine.bus_write(PWR_DBPR, 4, 1)
    machine.bus_write(RTC + WPR, 4, 0xCA)
    machine.bus_write(RTC + WPR, 4, 0x53)
    return machine


def run_us(machine: Machine, micros: int) -> None:
    machine.run(max_cycles=micros * CLOCK_HZ // 1_000_000)


register_writes = st.lists(
    st.tuples(
        st.sampled_from(sorted(rtc_model.Rtc.REGISTERS) + [0x3FC]),
        st.one_of(
            st.integers(0, 0xFFFF_FFFF),
            st.sampled_from([0, 0x80, 0xCA, 0x53, 0xFFFF_FFFF, CR_WUTE | CR_WUTIE | 4]),
        ),
        st.sampled_from([0, 1, 1_000, 1_000_000, 3_600_000_000]),
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(writes=register_writes)
def test_register_garbage_keeps_rtc_consistent(writes: list[tuple[int, int, int]]) -> None:
    logging.disable(logging.WARNING)
    try:
        machine = unlocked_machine()
        rtc = machine.peripherals.rtc
        for offset, value, idle_us in writes:
            machine.bus_write(RTC + offset, 4, value)
            rtc.elapse(idle_us)
            for register in rtc_model.Rtc.REGISTERS:
                assert 0 <= machine.bus_read(RTC + register) <= 0xFFFF_FFFF
            wake_us = rtc.next_wake_us()
            assert wake_us is None or wake_us >= 0
        saved = rtc.backup_state()
        fresh = Machine().peripherals.rtc
        fresh.restore_backup_state(saved)
        assert fresh.registers == rtc.registers
        assert fresh.calendar_seconds() == rtc.calendar_seconds()
    finally:
        logging.disable(logging.NOTSET)


def test_wakeup_timer_longest_period() -> None:
    machine = unlocked_machine()
    rtc = machine.peripherals.rtc
    machine.bus_write(RTC + WUTR, 4, 0xFFFF)
    machine.bus_write(RTC + CR, 4, CR_WUTE | CR_WUTIE | 6)
    assert rtc.next_wake_us() == MAX_WAKEUP_S * 1_000_000
    rtc.elapse(MAX_WAKEUP_S * 1_000_000 - 1)
    assert machine.bus_read(RTC + SR) & SR_WUTF == 0
    rtc.elapse(1)
    assert machine.bus_read(RTC + SR) & SR_WUTF


def test_wakeup_timer_zero_every_16_ticks() -> None:
    machine = unlocked_machine()
    machine.bus_write(RTC + WUTR, 4, 0)
    machine.bus_write(RTC + CR, 4, CR_WUTE | CR_WUTIE)
    flags = 0
    for _ in range(100):
        run_us(machine, 489)  # 16 ticks of the 32.768 kHz LSE are 488.28 µs
        flags += bool(machine.bus_read(RTC + SR) & SR_WUTF)
        machine.bus_write(RTC + SCR, 4, SR_WUTF)
    assert flags == 100


def test_alarm_every_second() -> None:
    machine = unlocked_machine()
    rtc = machine.peripherals.rtc
    machine.bus_write(RTC + ALRMAR, 4, ALARM_EVERY_SECOND)
    machine.bus_write(RTC + CR, 4, CR_ALRAE | CR_ALRAIE)
    assert 0 < rtc.next_wake_us() <= 1_000_000
    alarms = 0
    for _ in range(30):
        rtc.elapse(1_000_000)
        alarms += bool(machine.bus_read(RTC + SR) & SR_ALRAF)
        machine.bus_write(RTC + SCR, 4, SR_ALRAF)
    assert alarms == 30


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("calendar_apre", -1),
        ("calendar_apre", 10**30),
        ("calendar_apre", 1.5),
        ("calendar_apre", True),
        ("weekday_offset", "3"),
        ("wakeup_in_ticks", -1),
        ("wakeup_in_ticks", 10**30),
        ("registers", [1, 2]),
    ],
)
def test_bad_saved_state_rejected_unchanged(field: str, value: object) -> None:
    machine = unlocked_machine()
    rtc = machine.peripherals.rtc
    machine.bus_write(RTC + CR, 4, CR_WUTE | CR_WUTIE | 4)
    saved = rtc.backup_state()
    before = (dict(rtc.registers), rtc.calendar_seconds(), rtc.next_wake_us())
    with pytest.raises((TypeError, ValueError)):
        rtc.restore_backup_state({**saved, field: value})
    assert (dict(rtc.registers), rtc.calendar_seconds(), rtc.next_wake_us()) == before


def test_saved_state_must_be_object() -> None:
    rtc = Machine().peripherals.rtc
    with pytest.raises(TypeError, match="JSON object"):
        rtc.restore_backup_state([1, 2])  # type: ignore[arg-type]
