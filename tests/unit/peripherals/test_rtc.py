"""RTC calendar, write protection, wake-up timer and alarm A, with a real machine as host."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openvisor.machine import Machine

RTC = 0x4600_7800
TR, DR, SSR, ICSR, PRER, WUTR, CR, WPR = 0x00, 0x04, 0x08, 0x0C, 0x10, 0x14, 0x18, 0x24
ALRMAR, SR, MISR, SCR = 0x40, 0x50, 0x54, 0x5C
PWR_DBPR = 0x4602_0828
RCC_BDCR = 0x4602_0CF0
RTC_EXCEPTION = 16 + 2
CYCLES_PER_US = 160

ICSR_WUTWF, ICSR_INITS, ICSR_RSF, ICSR_INITF, ICSR_INIT = 1 << 2, 1 << 4, 1 << 5, 1 << 6, 1 << 7
CR_ALRAE, CR_WUTE, CR_ALRAIE, CR_WUTIE = 1 << 8, 1 << 10, 1 << 12, 1 << 14
SR_ALRAF, SR_WUTF = 1 << 0, 1 << 2
MSK2, MSK3, MSK4 = 1 << 15, 1 << 23, 1 << 31


def read(machine: Machine, offset: int) -> int:
    return machine.bus_read(RTC + offset)


def write(machine: Machine, offset: int, value: int) -> None:
    machine.bus_write(RTC + offset, 4, value)


def unlock(machine: Machine) -> None:
    machine.bus_write(PWR_DBPR, 4, 1)
    write(machine, WPR, 0xCA)
    write(machine, WPR, 0x53)


def run_us(machine: Machine, micros: int) -> None:
    machine.run(max_cycles=micros * CYCLES_PER_US)


def set_calendar(machine: Machine, tr: int, dr: int) -> None:
    unlock(machine)
    write(machine, ICSR, ICSR_INIT)
    assert read(machine, ICSR) & ICSR_INITF
    write(machine, TR, tr)
    write(machine, DR, dr)
    write(machine, ICSR, 0)


def arm_wakeup(machine: Machine, wucksel: int, wut: int) -> None:
    unlock(machine)
    write(machine, CR, read(machine, CR) & ~CR_WUTE)
    write(machine, SCR, SR_WUTF)
    assert read(machine, ICSR) & ICSR_WUTWF
    write(machine, WUTR, wut)
    write(machine, CR, (read(machine, CR) & ~0x7) | wucksel)
    write(machine, CR, read(machine, CR) | CR_WUTE | CR_WUTIE)


def test_rtc_reset_calendar_counts(machine: Machine) -> None:
    assert read(machine, DR) == 0x0000_2101
    assert read(machine, TR) == 0
    assert read(machine, PRER) == 0x007F_00FF
    assert read(machine, ICSR) & ICSR_INITS == 0
    run_us(machine, 3_250_000)
    assert read(machine, TR) == 0x0000_0003
    # ck_apre runs at 256 Hz: a quarter second past the boundary, SSR is 255 - 64.
    assert read(machine, SSR) == 191


def test_rtc_write_needs_dbp(machine: Machine, caplog: pytest.LogCaptureFixture) -> None:
    write(machine, WPR, 0xCA)
    write(machine, WPR, 0x53)
    with caplog.at_level(logging.WARNING):
        write(machine, ICSR, ICSR_INIT)
    assert read(machine, ICSR) & ICSR_INITF == 0
    assert "PWR_DBPR.DBP" in caplog.text


def test_rtc_write_protection_key(machine: Machine, caplog: pytest.LogCaptureFixture) -> None:
    machine.bus_write(PWR_DBPR, 4, 1)
    write(machine, WPR, 0x53)
    write(machine, WPR, 0xCA)
    with caplog.at_level(logging.WARNING):
        write(machine, ICSR, ICSR_INIT)
    assert read(machine, ICSR) & ICSR_INITF == 0
    assert "0xCA, then 0x53" in caplog.text
    write(machine, WPR, 0xCA)
    write(machine, WPR, 0x53)
    write(machine, ICSR, ICSR_INIT)
    assert read(machine, ICSR) & ICSR_INITF
    write(machine, WPR, 0xFF)
    write(machine, ICSR, 0)
    assert read(machine, ICSR) & ICSR_INITF, "a wrong key must lock the registers again"


def test_rtc_time_set_in_init_mode(machine: Machine) -> None:
    # 2024-06-01 (a Saturday, weekday 6) 23:59:58.
    set_calendar(machine, 0x0023_5958, 0x0024_C601)
    assert read(machine, ICSR) & ICSR_INITS
    assert read(machine, ICSR) & ICSR_RSF
    run_us(machine, 2_500_000)
    assert read(machine, TR) == 0x0000_0000
    assert read(machine, DR) == 0x0024_E602  # Sunday 2024-06-02


def test_rtc_time_write_outside_init_ignored(machine: Machine) -> None:
    unlock(machine)
    write(machine, TR, 0x0012_0000)
    assert read(machine, TR) == 0


def test_rtc_power_on_from_wall_time(machine: Machine) -> None:
    moment = datetime(2026, 12, 4, 19, 30, 15, tzinfo=UTC)
    machine.peripherals.rtc.power_on(int(moment.timestamp()))
    assert read(machine, TR) == 0x0019_3015
    assert read(machine, DR) == 0x0026_B204  # Friday (5) 2026-12-04
    assert read(machine, ICSR) & ICSR_INITS


@pytest.mark.parametrize(
    ("wucksel", "wut", "period_us"),
    [
        (0, 2047, 1_000_000),  # RTCCLK/16 = 2048 Hz
        (1, 4095, 1_000_000),  # RTCCLK/8
        (2, 8191, 1_000_000),  # RTCCLK/4
        (3, 3276, 200_000),  # RTCCLK/2, 3277 ticks of 61.035 µs
        (4, 1, 2_000_000),  # ck_spre, WUT + 1 seconds
        (5, 0, 1_000_000),
    ],
)
def test_rtc_wakeup_period(machine: Machine, wucksel: int, wut: int, period_us: int) -> None:
    arm_wakeup(machine, wucksel, wut)
    rtcclk_ticks = (wut + 1) * (16 >> wucksel if wucksel < 4 else 32_768)
    period_cycles = -(-rtcclk_ticks * 160_000_000 // 32_768)
    assert abs(period_cycles - period_us * CYCLES_PER_US) < 100 * CYCLES_PER_US
    start = machine.cycles
    machine.run(max_cycles=period_cycles - 200)
    assert read(machine, SR) & SR_WUTF == 0
    assert RTC_EXCEPTION not in machine.nvic.pending
    machine.run(max_cycles=start + period_cycles + 200 - machine.cycles)
    assert read(machine, SR) & SR_WUTF
    assert read(machine, MISR) & SR_WUTF
    assert RTC_EXCEPTION in machine.nvic.pending
    write(machine, SCR, SR_WUTF)
    assert read(machine, SR) & SR_WUTF == 0


def test_rtc_wakeup_wucksel_6_adds_2_16(machine: Machine) -> None:
    arm_wakeup(machine, 6, 0)
    assert machine.peripherals.rtc.next_wake_us() == 65_537_000_000


def test_rtc_wutr_locked_while_enabled(machine: Machine) -> None:
    arm_wakeup(machine, 4, 9)
    assert read(machine, ICSR) & ICSR_WUTWF == 0
    write(machine, WUTR, 1)
    assert read(machine, WUTR) == 9


def test_rtc_alarm_a_seconds_match(machine: Machine) -> None:
    set_calendar(machine, 0x0012_0000, 0x0024_C601)
    write(machine, ALRMAR, MSK4 | MSK3 | MSK2 | 0x10)  # every minute at second 10
    write(machine, CR, CR_ALRAE | CR_ALRAIE)
    assert machine.peripherals.rtc.next_wake_us() == 10_000_000
    run_us(machine, 9_900_000)
    assert read(machine, SR) & SR_ALRAF == 0
    run_us(machine, 200_000)
    assert read(machine, SR) & SR_ALRAF
    assert RTC_EXCEPTION in machine.nvic.pending
    write(machine, SCR, SR_ALRAF)
    assert read(machine, SR) & SR_ALRAF == 0
    assert machine.peripherals.rtc.next_wake_us() == pytest.approx(60_000_000, abs=200_000)


def test_rtc_alarm_a_hour_and_date(machine: Machine) -> None:
    set_calendar(machine, 0x0012_0000, 0x0024_C601)  # 2024-06-01 12:00:00
    write(machine, ALRMAR, 0x0213_0000)  # date 2, 13:00:00
    write(machine, CR, CR_ALRAE | CR_ALRAIE)
    assert machine.peripherals.rtc.next_wake_us() == 25 * 3600 * 1_000_000


def test_rtc_elapse_counts_idle_time(machine: Machine) -> None:
    arm_wakeup(machine, 4, 0)
    machine.peripherals.rtc.elapse(5_000_000)
    assert read(machine, TR) == 0x0000_0005
    assert read(machine, SR) & SR_WUTF
    write(machine, SCR, SR_WUTF)
    assert machine.peripherals.rtc.next_wake_us() == 1_000_000


def test_rtc_survives_system_reset(machine: Machine) -> None:
    machine.bus_write(RCC_BDCR, 4, (1 << 15) | (1 << 8) | 1)  # RTCEN, RTCSEL = LSE, LSEON
    arm_wakeup(machine, 4, 0)
    run_us(machine, 1_100_000)
    machine.reset()
    assert machine.bus_read(RCC_BDCR) & 0x8103 == 0x8103
    assert read(machine, CR) & (CR_WUTE | CR_WUTIE) == CR_WUTE | CR_WUTIE
    assert read(machine, TR) == 0x0000_0001
    assert RTC_EXCEPTION in machine.nvic.pending, "WUTF with WUTIE keeps the interrupt pending"
    write(machine, SCR, SR_WUTF)
    run_us(machine, 1_000_000)
    assert read(machine, SR) & SR_WUTF, "the wake-up timer keeps running after the reset"


def test_rtc_backup_state_round_trip(machine: Machine) -> None:
    set_calendar(machine, 0x0008_0000, 0x0024_C601)
    arm_wakeup(machine, 4, 2)
    state = machine.peripherals.rtc.backup_state()
    other = Machine(tcg_buffer_size=4 * 1024 * 1024)
    other.peripherals.rtc.restore_backup_state(state)
    assert other.bus_read(RTC + TR) == 0x0008_0000
    assert other.bus_read(RTC + CR) & (CR_WUTE | CR_WUTIE) == CR_WUTE | CR_WUTIE
    assert other.peripherals.rtc.next_wake_us() == 3_000_000


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    writes=st.lists(
        st.tuples(st.sampled_from(sorted(range(0, 0x60, 4))), st.integers(0, 0xFFFF_FFFF)),
        max_size=24,
    )
)
def test_rtc_any_writes_never_raise(machine: Machine, writes: list[tuple[int, int]]) -> None:
    unlock(machine)
    for offset, value in writes:
        if offset != WPR:
            write(machine, offset, value)
        if offset == ICSR and value & ICSR_INIT:
            write(machine, ICSR, 0)
    run_us(machine, 2_000)
    machine.peripherals.rtc.elapse(3_000_000)
    for offset in range(0, 0x60, 4):
        read(machine, offset)
    wake_us = machine.peripherals.rtc.next_wake_us()
    assert wake_us is None or wake_us >= 0
