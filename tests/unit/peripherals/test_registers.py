"""Peripheral register behaviour through the bus, with a real machine as host."""

from __future__ import annotations

import logging

import pytest

from openvisor.machine import Machine

RCC = 0x4602_0C00
PWR = 0x4602_0800
CRC = 0x4002_3000
TIM6 = 0x4000_1000
TIM2 = 0x4000_0000
USART2 = 0x4000_4400
GPIOA = 0x4202_0000
GPIOC = 0x4202_0800
EXTI = 0x4602_2000
RNG = 0x420C_0800


def test_rcc_reports_160mhz_pll(machine: Machine) -> None:
    rcc = machine.peripherals.rcc
    assert rcc.sysclk_hz() == 160_000_000
    assert machine.bus_read(RCC + 0x1C) & 0xF == 0xF  # SW and SWS = PLL1
    machine.bus_write(RCC + 0x00, 4, machine.bus_read(RCC) | (1 << 16))  # HSEON
    assert machine.bus_read(RCC) & (1 << 17)  # HSERDY follows


def test_pwr_voltage_scaling_ready(machine: Machine) -> None:
    machine.bus_write(PWR + 0x0C, 4, 2 << 16)
    assert machine.bus_read(PWR + 0x0C) & (1 << 15)
    assert (machine.bus_read(PWR + 0x3C) >> 16) & 3 == 2


@pytest.mark.parametrize(
    ("control", "polynomial", "size_bits", "initial", "expected"),
    [
        (0b1010_0000, 0x04C1_1DB7, 0, 0xFFFF_FFFF, 0xCBF4_3926 ^ 0xFFFF_FFFF),  # CRC-32
        (0b0000_1000, 0x1021, 1, 0xFFFF, 0x29B1),  # CRC-16/CCITT-FALSE
        (0b0001_0000, 0x07, 2, 0x00, 0xF4),  # CRC-8
    ],
)
def test_crc_known_vectors(
    machine: Machine, control: int, polynomial: int, size_bits: int, initial: int, expected: int
) -> None:
    machine.bus_write(CRC + 0x14, 4, polynomial)
    machine.bus_write(CRC + 0x10, 4, initial)
    machine.bus_write(CRC + 0x08, 4, control | 1)
    for byte in b"123456789":
        machine.bus_write(CRC + 0x00, 1, byte)
    assert machine.bus_read(CRC + 0x00) == expected


def test_crc_word_writes_feed_msb_first(machine: Machine) -> None:
    machine.bus_write(CRC + 0x08, 4, 1)
    machine.bus_write(CRC + 0x00, 4, 0x3132_3334)
    word = machine.bus_read(CRC + 0x00)
    machine.bus_write(CRC + 0x08, 4, 1)
    for byte in b"1234":
        machine.bus_write(CRC + 0x00, 1, byte)
    assert machine.bus_read(CRC + 0x00) == word


def test_basic_timer_update_interrupt(machine: Machine) -> None:
    machine.bus_write(TIM6 + 0x28, 4, 159)  # 1 MHz tick
    machine.bus_write(TIM6 + 0x2C, 4, 999)  # 1 ms period
    machine.bus_write(TIM6 + 0x14, 4, 1)  # UG loads PSC
    machine.bus_write(TIM6 + 0x10, 4, 0)
    machine.bus_write(TIM6 + 0x0C, 4, 1)  # UIE
    start = machine.cycles
    machine.bus_write(TIM6 + 0x00, 4, 1)  # CEN
    machine.run(max_cycles=80_000)  # 0.5 ms
    assert machine.bus_read(TIM6 + 0x24) == 500
    assert machine.bus_read(TIM6 + 0x10) & 1 == 0
    machine.run(max_cycles=80_001)
    assert machine.bus_read(TIM6 + 0x10) & 1 == 1
    assert 16 + 49 in machine.nvic.pending  # TIM6 IRQ pended (disabled in NVIC)
    assert machine.cycles - start >= 160_000


def test_one_pulse_mode_stops_counter(machine: Machine) -> None:
    machine.bus_write(TIM2 + 0x2C, 4, 99)
    machine.bus_write(TIM2 + 0x00, 4, (1 << 3) | 1)  # OPM, CEN
    machine.run(max_cycles=150)
    assert machine.bus_read(TIM2 + 0x00) & 1 == 0
    assert machine.bus_read(TIM2 + 0x10) & 1 == 1


def test_usart_lines_and_flags(machine: Machine) -> None:
    lines: list[tuple[str, str]] = []
    machine.peripherals.on_console(lambda source, line: lines.append((source, line)))
    machine.bus_write(USART2 + 0x00, 4, (1 << 3) | (1 << 2) | 1)
    isr = machine.bus_read(USART2 + 0x1C)
    assert isr & (1 << 7) and isr & (1 << 6)  # TXE, TC
    for byte in b"hi there\r\n":
        machine.bus_write(USART2 + 0x28, 4, byte)
    assert lines == [("USART2", "hi there")]
    machine.peripherals.usart2.inject(b"ok")
    assert machine.bus_read(USART2 + 0x1C) & (1 << 5)  # RXNE
    assert machine.bus_read(USART2 + 0x24) == ord("o")
    assert machine.bus_read(USART2 + 0x24) == ord("k")
    assert not machine.bus_read(USART2 + 0x1C) & (1 << 5)


def test_usart_rx_interrupt(machine: Machine) -> None:
    machine.bus_write(USART2 + 0x00, 4, (1 << 5) | (1 << 2) | 1)  # RXNEIE, RE, UE
    machine.peripherals.usart2.inject(b"x")
    assert 16 + 62 in machine.nvic.pending


def test_gpio_output_events(machine: Machine) -> None:
    events = []
    machine.peripherals.on_gpio(events.append)
    machine.bus_write(GPIOA + 0x00, 4, 0xABFF_F7FF)  # PA5 output
    machine.bus_write(GPIOA + 0x18, 4, 1 << 5)
    machine.bus_write(GPIOA + 0x18, 4, 1 << 5)  # no change, no event
    machine.bus_write(GPIOA + 0x28, 4, 1 << 5)  # BRR
    assert [(e.port, e.pin, e.level) for e in events] == [("A", 5, 1), ("A", 5, 0)]
    assert machine.bus_read(GPIOA + 0x14) == 0


def test_gpio_input_edge_raises_exti(machine: Machine) -> None:
    machine.bus_write(GPIOC + 0x00, 4, 0xF3FF_FFFF)  # PC13 input
    machine.bus_write(EXTI + 0x6C, 4, 2 << 8)  # EXTICR4: line 13 on port C
    machine.bus_write(EXTI + 0x00, 4, 1 << 13)  # rising trigger
    machine.bus_write(EXTI + 0x80, 4, 1 << 13)  # unmask
    machine.peripherals.gpio["C"].set_input(13, 1)
    assert machine.bus_read(GPIOC + 0x10) & (1 << 13)
    assert machine.bus_read(EXTI + 0x0C) & (1 << 13)
    assert 16 + 11 + 13 in machine.nvic.pending  # EXTI13
    machine.bus_write(EXTI + 0x0C, 4, 1 << 13)
    assert machine.bus_read(EXTI + 0x0C) == 0
    machine.nvic.clear_pending(16 + 24)
    machine.peripherals.gpio["C"].set_input(13, 0)  # falling edge: not selected
    assert 16 + 24 not in machine.nvic.pending


def test_rng_draws_values(machine: Machine) -> None:
    assert machine.bus_read(RNG + 0x04) == 0
    machine.bus_write(RNG + 0x00, 4, 1 << 2)
    assert machine.bus_read(RNG + 0x04) & 1
    values = {machine.bus_read(RNG + 0x08) for _ in range(8)}
    assert len(values) > 1


def test_unmodelled_register_warns_once(machine: Machine, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    for _ in range(3):
        assert machine.bus_read(0x4000_5C00) == 0  # I2C3-area address with no model
        machine.bus_write(USART2 + 0x3C, 4, 5)  # past the USART register map
    assert machine.bus_read(USART2 + 0x3C) == 0
    warnings = [r for r in caplog.records if "unmodelled" in r.getMessage()]
    assert len(warnings) == 2
    assert "0x40005c00" in warnings[0].getMessage()


def test_unmodelled_system_register_warns(
    machine: Machine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    assert machine.bus_read(0xE000_EFD0) == 0
    assert machine.bus_read(0xE000_EFD0) == 0
    warnings = [r for r in caplog.records if "0xe000efd0" in r.getMessage()]
    assert len(warnings) == 1


def test_lpuart1_console_source(machine: Machine) -> None:
    lpuart1 = 0x4600_2400
    machine.bus_write(lpuart1 + 0x00, 4, (1 << 3) | 1)
    for byte in b"low power\n":
        machine.bus_write(lpuart1 + 0x28, 4, byte)
    assert machine.peripherals.console_lines[-1] == ("LPUART1", "low power")
    assert machine.peripherals.lpuart1.lines == ["low power"]
