"""Timer, USART and SysTick-pend interrupts taken by compiled firmware (bm_periph_irqs)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from openvisor.machine import Machine

RunUntil = Callable[..., object]
Values = Callable[[Machine], dict[str, str]]


@pytest.fixture
def periph(boot: Callable[..., Machine], run_until_line: RunUntil) -> Machine:
    """bm_periph_irqs run through every check, with the host injecting both RX lines."""
    machine = boot("bm_periph_irqs")
    run_until_line(machine, "rx poll ready")
    machine.peripherals.usart2.inject(b"ping\n")
    run_until_line(machine, "rx irq ready")
    machine.peripherals.usart2.inject(b"pong\n")
    run_until_line(machine, "periph done")
    return machine


def toggle_gaps(machine: Machine, pin: int) -> list[int]:
    events = [e for e in machine.peripherals.gpio_events if (e.port, e.pin) == ("A", pin)]
    assert [e.level for e in events] == [1, 0, 1, 0, 1][: len(events)]
    return [b.cycle - a.cycle for a, b in itertools.pairwise(events)]


def test_tim7_update_interrupt(periph: Machine, console_values: Values) -> None:
    assert console_values(periph)["tim7_updates"] == "5"
    gaps = toggle_gaps(periph, 5)
    assert len(gaps) == 4
    # (PSC + 1) * (ARR + 1) = 16 * 1000 cycles, with the same handler latency each time.
    assert all(abs(gap - 16_000) < 16 for gap in gaps), gaps


def test_tim2_update_interrupt_32_bit(periph: Machine, console_values: Values) -> None:
    values = console_values(periph)
    assert values["tim2_updates"] == "3"
    assert values["tim2_arr"] == "100000"
    assert values["tim2_cnt_above_16_bits"] == "1"
    gaps = toggle_gaps(periph, 6)
    assert len(gaps) == 2
    # ARR 100000 truncated to 16 bits would give a 34465-cycle period.
    assert all(abs(gap - 100_001) < 16 for gap in gaps), gaps


def test_pendstset_takes_systick(periph: Machine, console_values: Values) -> None:
    values = console_values(periph)
    assert values["pendst_set"] == "1"
    assert values["pendst_vectpending"] == "15"
    assert values["pendst_runs_masked"] == "0"
    assert values["pendst_runs"] == "1"
    assert values["pendst_set_after"] == "0"


def test_usart2_tx_interrupts(periph: Machine, console_values: Values) -> None:
    values = console_values(periph)
    assert "sent by txeie" in periph.peripherals.console
    assert values["txe_irqs"] == str(len("sent by txeie\n"))
    assert values["tc_irqs"] == "1"


def test_usart2_rx_polling(periph: Machine, console_values: Values) -> None:
    assert console_values(periph)["rx_poll"] == "ping"


def test_usart2_rx_interrupt(periph: Machine, console_values: Values) -> None:
    values = console_values(periph)
    assert values["rx_irq"] == "pong"
    assert values["rx_irq_entries"] == "5"
