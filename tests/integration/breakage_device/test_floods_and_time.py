"""Interrupt floods, extreme SysTick reloads and sleep that never ends: bounded and deterministic."""

from __future__ import annotations

from typing import Any

import pytest

from openvisor.device import DeviceState


def test_masked_wfi_idles_on_budget(attacker: Any) -> None:
    """Nothing can wake the core: virtual time runs on and the app is left alone."""
    attacker.post("wfi_masked")
    start = attacker.device.kernel.micros()
    state = attacker.device.run_for(10.0)
    assert state is DeviceState.RUNNING
    assert attacker.device.kernel.micros() - start == 10_000_000
    assert attacker.machine.sleeping
    assert attacker.field("progress") == 0
    assert attacker.crashes == []


def test_masked_wfi_meets_watchdog(
    make_attacker: Any,
) -> None:
    attacker = make_attacker(watchdog_s=0.5)
    report = attacker.crash("wfi_masked", seconds=1.0)
    assert report.kind == "watchdog"
    attacker.device.run_for(1.2, until=lambda: attacker.device.boot_count > 1)
    assert attacker.device.boot_count == 2


def test_systick_reload_zero_never_fires(attacker: Any) -> None:
    assert attacker.do("systick", 0, 0, 0, 1_000) > 0
    assert attacker.field("tick_count") == 0
    assert attacker.field("progress") == 1_000


def test_systick_reload_one_polled(attacker: Any) -> None:
    attacker.do("systick", 0, 1, 5, 1_000)  # enabled, processor clock, no TICKINT
    assert attacker.field("tick_count") == 0
    assert attacker.field("progress") == 1_000


def test_systick_reload_one_interrupts(attacker: Any) -> None:
    """A tick every 2 cycles keeps the core in SysTick_Handler; the run still ends on time."""
    attacker.post("systick", 0, 1, 7, 0)
    start = attacker.device.kernel.micros()
    attacker.device.run_for(20e-6)
    assert attacker.device.kernel.micros() - start == 20
    assert attacker.field("tick_count") > 200
    assert attacker.device.state is DeviceState.RUNNING
    assert attacker.crashes == []


def test_flood_of_every_irq(attacker: Any) -> None:
    cycles = attacker.do("flood", 0, 300, max_us=2_000_000)
    assert attacker.field("irq_count") >= 300
    assert cycles > 300
    # The app still answers after the flood.
    assert attacker.do("read32", 0xE000_ED00) == 0x410F_D214
    assert attacker.crashes == []


SLICES_US = (50_000, 37, 1)


@pytest.mark.parametrize(
    ("op", "args"),
    [("systick", (100, 0, 5_000)), ("systick", (20, 0, 2_000)), ("flood", (200,))],
    ids=["systick-100", "systick-20", "flood"],
)
def test_storm_time_ignores_slicing(make_attacker: Any, op: str, args: tuple[int, ...]) -> None:
    observed = []
    for slice_us in SLICES_US:
        attacker = make_attacker(slice_us=slice_us)
        cycles = attacker.do(op, 0, *args, max_us=2_000_000)
        observed.append(
            (
                cycles,
                attacker.field("progress"),
                attacker.field("tick_count"),
                attacker.field("irq_count"),
            )
        )
    assert observed[0][0] > 0
    assert observed == [observed[0]] * len(SLICES_US)
