"""Hung fast interrupt handlers end the app (k_fastirq); fast calls are withdrawn meanwhile."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from openvisor.device import AppImage, Device, DeviceConfig
from openvisor.kernel.abi import MvStatus, MvWakeReason
from openvisor.kernel.calls.fast_interrupts import FastInterrupts
from openvisor.kernel.crash import CrashLog

TIM6_IRQ = 49
TIM8_BRK_IRQ = 51


@pytest.fixture
def start_fastirq(
    tmp_path: Path, firmware: Callable[[str], Path]
) -> Callable[..., tuple[Device, list[str]]]:
    """Return a factory booting k_fastirq (PC0 = ``hang``) and collecting its console lines."""
    elf = firmware("k_fastirq")

    def start(hang: bool, **config: Any) -> tuple[Device, list[str]]:
        device = Device(
            tmp_path / "device",
            image=AppImage.from_path(elf),
            config=DeviceConfig(seed=7, **config),
        )
        lines: list[str] = []

        def attach(machine: Any) -> None:
            machine.peripherals.gpio["C"].set_input(0, int(hang))
            machine.peripherals.on_console(lambda source, line: lines.append(line))

        device.machine_listeners.append(attach)
        device.boot()
        return device, lines

    return start


def test_hung_fast_handler_crashes(start_fastirq: Callable[..., Any]) -> None:
    device, lines = start_fastirq(hang=True)
    crashes = device.kernel.family_state(CrashLog)
    device.run_for(0.2, until=lambda: bool(crashes.reports))
    assert len(crashes.reports) == 1
    report = crashes.reports[0]
    assert report.kind == "hung-interrupt"
    assert f"fast IRQ {TIM6_IRQ}" in report.detail
    assert report.symbols["pc"].startswith("TIM6_IRQHandler+")
    # The handler starts at 1 ms and is sampled every 0.5 ms; the 10 ms budget
    # runs from the first sample that finds it active.
    assert 11_000 < report.uptime_us <= 12_100

    device.run_for(1.1, until=lambda: device.boot_count > 1)
    device.run_for(0.01)
    assert lines[0] == "boot reason=0 hang=1 set=0"
    assert lines[-1] == f"boot reason={MvWakeReason.APPLICATIONCRASH} hang=1 set=0"


def test_fast_handler_within_budget(start_fastirq: Callable[..., Any]) -> None:
    device, lines = start_fastirq(hang=False)
    device.run_for(0.3)
    assert device.kernel.family_state(CrashLog).reports == []
    handled = [line for line in lines if line.startswith("handled=")]
    assert len(handled) >= 4, lines


def test_fast_budget_configurable(start_fastirq: Callable[..., Any]) -> None:
    device, _ = start_fastirq(hang=False, fast_irq_budget_ms=1.0)
    crashes = device.kernel.family_state(CrashLog)
    device.run_for(0.2, until=lambda: bool(crashes.reports))
    assert [report.kind for report in crashes.reports] == ["hung-interrupt"]
    assert "over the 1 ms budget" in crashes.reports[0].detail


def test_fast_calls_unavailable_during_shutdown(harness: Any) -> None:
    assert harness.call("mvSetFastInterrupt", TIM8_BRK_IRQ) == MvStatus.OKAY
    assert harness.call("mvEnableFastInterrupt", TIM8_BRK_IRQ) == MvStatus.OKAY
    # The device withdraws fast interrupts once it finds a hung handler. No app
    # instruction runs before the app stops, so the test opens that window.
    harness.device.kernel.family_state(FastInterrupts).withdraw()
    for call in (
        "mvSetFastInterrupt",
        "mvClearFastInterrupt",
        "mvEnableFastInterrupt",
        "mvDisableFastInterrupt",
    ):
        assert harness.call(call, TIM8_BRK_IRQ) == MvStatus.UNAVAILABLE, call
    assert harness.call("mvEnableAllFastInterrupts") == MvStatus.UNAVAILABLE
    assert harness.call("mvDisableAllFastInterrupts") == MvStatus.UNAVAILABLE
    harness.device.kernel.app_restarted(MvWakeReason.APPLICATIONCRASH)
    assert harness.call("mvSetFastInterrupt", TIM8_BRK_IRQ) == MvStatus.OKAY
