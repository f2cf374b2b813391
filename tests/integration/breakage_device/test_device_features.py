"""Hostile use of fast interrupts, traps, the SCS, WFE and the RTC (x_devices firmware).

x_devices runs one group of attacks, picked by input pins PC0-PC2, and prints
"key=value" lines on USART2; see firmware/apps/x_devices/main.c.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from openvisor.device import AppImage, Device, DeviceConfig, DeviceState
from openvisor.kernel.abi import MvWakeReason
from openvisor.kernel.calls.power import MIN_DEEP_SLEEP_US
from openvisor.kernel.crash import CrashLog

SCS_PAGE_WORDS = 1024
TIM7_IRQ = 50


class DeviceApp:
    """A device running one x_devices group, with its console lines parsed."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.lines: list[str] = []

    def values(self, key: str) -> list[int]:
        """Return every value printed for ``key``, oldest first."""
        found = []
        for line in self.lines:
            name, _, value = line.partition("=")
            if name == key:
                found.append(int(value))
        return found

    def value(self, key: str) -> int:
        """Return the one value printed for ``key``."""
        found = self.values(key)
        assert len(found) == 1, f"{key}: {found} in {self.lines}"
        return found[0]

    @property
    def crash_kinds(self) -> list[str]:
        return [report.kind for report in self.device.kernel.family_state(CrashLog).reports]


@pytest.fixture
def start_group(tmp_path: Path, firmware: Callable[[str], Path]) -> Callable[..., DeviceApp]:
    """Return a factory booting x_devices in ``group`` (``DeviceConfig`` fields as kwargs)."""
    elf = firmware("x_devices")

    def start(group: int, **config: Any) -> DeviceApp:
        config.setdefault("seed", 17)
        device = Device(
            tmp_path / f"group{group}",
            image=AppImage.from_path(elf),
            config=DeviceConfig(**config),
        )
        app = DeviceApp(device)

        def attach(machine: Any) -> None:
            for pin in range(3):
                machine.peripherals.gpio["C"].set_input(pin, (group >> pin) & 1)
            machine.peripherals.on_console(lambda source, line: app.lines.append(line))

        device.machine_listeners.append(attach)
        device.boot()
        return app

    return start


def test_fast_irq_at_sample_period_not_hung(start_group: Callable[..., DeviceApp]) -> None:
    """A handler busy for 3/4 of each sampling period, returning each time, is not hung."""
    app = start_group(0)
    app.device.run_for(0.15)
    assert app.value("set") == 0
    assert app.value("enable") == 0
    assert app.crash_kinds == []
    assert app.device.state is DeviceState.RUNNING
    assert app.value("handled") == 200
    # 200 periods of 0.5 ms after the timer starts.
    assert 100_000 <= app.value("us") <= 101_000


def test_fast_irq_hung_still_detected(start_group: Callable[..., DeviceApp]) -> None:
    """The same handler over a budget shorter than one run of it is still found hung."""
    app = start_group(0, fast_irq_budget_ms=0.2)
    app.device.run_for(0.05, until=lambda: bool(app.crash_kinds))
    assert app.crash_kinds == ["hung-interrupt"]


def test_division_rewritten_in_place_traps(start_group: Callable[..., DeviceApp]) -> None:
    app = start_group(1)
    app.device.run_for(0.05)
    assert app.value("plain") == 7
    assert app.value("plain_faults") == 0
    assert app.value("rewritten_faults") == 1, "a UDIV written over translated code traps"
    assert app.value("rewritten") == 10, "the faulting UDIV has no effect"
    assert app.value("rounds_faults") == app.value("rounds_expected") == 20
    assert app.value("cfsr_divbyzero") == 1
    assert app.crash_kinds == []


def test_unaligned_trap_toggled_per_access(start_group: Callable[..., DeviceApp]) -> None:
    app = start_group(2)
    app.device.run_for(0.05)
    assert app.value("faults") == 200, "one fault per armed access, none while disarmed"
    assert app.value("unaligned_cfsr") == 1
    assert app.value("done") == 1
    assert app.crash_kinds == []


def test_unprivileged_scs_page_sweep(start_group: Callable[..., DeviceApp]) -> None:
    app = start_group(3)
    app.device.run_for(0.1)
    assert app.value("done") == 1
    assert app.value("read_faults") == SCS_PAGE_WORDS
    assert app.value("read_mismatches") == 0, "each load faults once with BFAR = its address"
    assert app.value("write_faults") == SCS_PAGE_WORDS
    assert app.value("write_mismatches") == 0
    assert app.value("cfsr_preciserr") == 1
    for unchanged in ("vtor_kept", "iser_kept", "shcsr_kept", "ccr_kept"):
        assert app.value(unchanged) == 1, f"an unprivileged store changed state: {unchanged}"
    assert app.value("stir_denied_faults") == 1
    assert app.value("stir_denied_irqs") == 0
    assert app.value("stir_allowed_faults") == 0
    assert app.value("stir_allowed_irqs") == 1
    assert app.value("stir_invalid_faults") == 0, "STIR ignores an INTID past the last IRQ"
    assert app.value("stir_invalid_irqs") == 1
    assert app.device.machine.nvic.pending == set()
    assert app.crash_kinds == []


def test_wfe_loops_and_idle_wfe(start_group: Callable[..., DeviceApp]) -> None:
    app = start_group(4)
    app.device.run_for(0.2)
    assert app.value("done") == 1
    # 10000 rounds of SEV, WFE, SEV, WFE and a loop: about 80000 cycles, never asleep.
    assert 400 <= app.value("sev_wfe_us") <= 600
    assert app.value("wfe_irqs") == 100
    assert 99_000 <= app.value("wfe_us") <= 101_000
    # Then WFE with interrupts masked: nothing wakes it, virtual time runs at no host cost.
    start = time.monotonic()
    before_us = app.device.kernel.micros()
    app.device.run_for(20.0)
    assert app.device.kernel.micros() - before_us == 20_000_000
    assert app.device.machine.sleeping
    assert time.monotonic() - start < 5.0
    assert app.crash_kinds == []


def test_rtc_garbage_then_shortest_wakeup(start_group: Callable[..., DeviceApp]) -> None:
    app = start_group(5)
    app.device.run_for(0.2)
    assert app.value("wakeups") == 200
    # WUTR 0 with RTCCLK/16: one wake-up every 16 LSE ticks (488.28 µs).
    assert app.value("wakeup_us") == pytest.approx(200 * 16 * 1_000_000 / 32_768, abs=35)
    assert app.crash_kinds == []


def test_deep_sleep_loop_bounded(start_group: Callable[..., DeviceApp]) -> None:
    """Deep sleep at every boot with a 488 µs wake-up: each wake costs the minimum sleep."""
    app = start_group(6)
    app.device.run_for(1.0)
    reasons = app.values("reason")
    assert reasons[0] == MvWakeReason.COLDBOOT
    assert set(reasons[1:]) == {MvWakeReason.DEEPSLEEPAPPLICATIONRTC}
    wakes_per_second = 1_000_000 // MIN_DEEP_SLEEP_US
    assert wakes_per_second <= app.device.boot_count <= wakes_per_second + 1
    assert app.crash_kinds == []


@pytest.mark.parametrize("group", [0, 5], ids=["fast-irq", "rtc-wakeup"])
def test_results_ignore_slicing(start_group: Callable[..., DeviceApp], group: int) -> None:
    observed = []
    for slice_us in (50_000, 37):
        app = start_group(group, slice_us=slice_us)
        app.device.run_for(0.15)
        # The last block of a slice may run past its end, so only app output is compared.
        observed.append((app.lines, app.crash_kinds))
        app.device.kernel.flush()
    assert observed[0] == observed[1]
