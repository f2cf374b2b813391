"""Every crash kind ends the app, records a symbolized report and restarts it after a back-off."""

from __future__ import annotations

from typing import Any

import pytest

from openvisor.bundle import ManifestOptions, create_bundle
from openvisor.device import AppImage
from openvisor.kernel.abi import MvStatus, MvWakeReason
from openvisor.kernel.crash import CrashLog


def crash(harness: Any, function: str, seconds: float = 0.2) -> Any:
    """Run ``function`` in the firmware and return the crash report it caused."""
    log = harness.device.kernel.family_state(CrashLog)
    before = len(log.reports)
    harness.post(function)
    harness.device.run_for(seconds, until=lambda: len(log.reports) > before)
    assert len(log.reports) == before + 1, f"{function} did not crash the app"
    return log.reports[-1]


def wake_reason(harness: Any) -> int:
    out = harness.buffer(0, 4)
    assert harness.call("mvGetWakeReason", out) == MvStatus.OKAY
    return harness.read(out, 1)[0]


def assert_restarts_after_backoff(harness: Any, report: Any) -> None:
    """Check the app boots again once the report's back-off has passed, woken by the crash."""
    device = harness.device
    boots = device.boot_count
    restart_at = report.micros + report.restart_delay_us
    # Run to 1 ms before the back-off ends: the app must still be down.
    device.run_for((restart_at - 1_000 - device.kernel.micros()) / 1e6)
    assert device.boot_count == boots, "the app restarted before its back-off"
    device.run_for(0.1 * report.restart_delay_us / 1e6, until=lambda: device.boot_count > boots)
    assert device.boot_count == boots + 1
    assert device.kernel.micros() >= restart_at
    harness.settle()
    assert wake_reason(harness) == MvWakeReason.APPLICATIONCRASH


@pytest.mark.parametrize(
    ("function", "address"),
    [
        ("crash_secure_read", 0x3000_0000),
        ("crash_unmapped_write", 0x6000_0000),
        ("crash_flash_write", 0x0800_0100),
    ],
)
def test_memory_fault_is_reported_and_restarted(harness: Any, function: str, address: int) -> None:
    boots = harness.device.boot_count
    report = crash(harness, function)
    assert report.kind == "fault"
    assert report.fault_address == address
    assert report.symbols["pc"].startswith(f"{function}+")
    assert "main.c:" in report.symbols["pc"]
    assert len(bytes.fromhex(report.stack)) == min(256, 0x2008_0000 - report.sp)
    assert bytes.fromhex(report.stack) == harness.read(report.sp, len(bytes.fromhex(report.stack)))
    assert set(report.registers) >= {"r0", "sp", "lr", "pc"}
    assert report.restart_delay_us == 1_000_000

    crashed_at = harness.device.kernel.micros()
    harness.device.run_for(1.1, until=lambda: harness.device.boot_count > boots)
    assert harness.device.boot_count == boots + 1
    assert harness.device.kernel.micros() - crashed_at >= 1_000_000
    harness.settle()
    assert wake_reason(harness) == MvWakeReason.APPLICATIONCRASH


def test_gateway_hole_crashes(harness: Any) -> None:
    report = crash(harness, "crash_gateway_hole")
    assert report.kind == "gateway"
    assert report.fault_address == 0x0C1F_E0A0
    assert report.restart_delay_us == 1_000_000
    assert_restarts_after_backoff(harness, report)


def test_lockup(harness: Any) -> None:
    report = crash(harness, "crash_lockup")
    assert report.kind == "lockup"
    assert report.restart_delay_us == 1_000_000
    assert_restarts_after_backoff(harness, report)


def test_stuck_in_fault_handler(make_harness: Any) -> None:
    harness = make_harness(stuck_in_fault_s=0.2)
    report = crash(harness, "crash_undefined", seconds=1.0)
    assert report.kind == "stuck-in-fault"
    assert report.symbols["pc"].startswith("HardFault_Handler+")
    assert report.restart_delay_us == 1_000_000
    assert_restarts_after_backoff(harness, report)


def test_watchdog(make_harness: Any) -> None:
    harness = make_harness(watchdog_s=0.3)
    assert harness.call("mvNoOp") == MvStatus.OKAY
    report = crash(harness, "crash_hang", seconds=1.0)
    assert report.kind == "watchdog"
    assert report.symbols["pc"].startswith("crash_hang+")
    assert report.restart_delay_us == 1_000_000
    assert_restarts_after_backoff(harness, report)


def test_no_watchdog_by_default(harness: Any) -> None:
    harness.post("crash_hang")
    harness.device.run_for(0.6)
    assert harness.device.kernel.family_state(CrashLog).reports == []


def test_backoff_doubles_for_repeated_crashes(harness: Any) -> None:
    delays = []
    for _ in range(3):
        boots = harness.device.boot_count
        delays.append(crash(harness, "crash_secure_read").restart_delay_us)
        harness.device.run_for(10.0, until=lambda b=boots: harness.device.boot_count > b)
        harness.settle()
    assert delays == [1_000_000, 2_000_000, 4_000_000]


def test_crash_reports_persist(make_harness: Any, tmp_path: Any) -> None:
    state_dir = tmp_path / "persist"
    harness = make_harness(state_dir)
    crash(harness, "crash_secure_read")
    assert (state_dir / "kernel" / "crash-reports.json").exists()
    again = make_harness(state_dir)
    reports = again.device.kernel.family_state(CrashLog).take()
    assert [report.kind for report in reports] == ["fault"]
    assert again.device.kernel.family_state(CrashLog).reports == []


def test_pending_restart_survives_a_new_process(make_harness: Any, tmp_path: Any) -> None:
    state_dir = tmp_path / "persist"
    harness = make_harness(state_dir)
    crash(harness, "crash_secure_read")
    assert harness.device.boot_count == 1  # killed during the back-off, before the restart
    again = make_harness(state_dir)
    assert wake_reason(again) == MvWakeReason.APPLICATIONCRASH
    third = make_harness(state_dir)
    assert wake_reason(third) == MvWakeReason.COLDBOOT


@pytest.mark.parametrize(
    ("include_stack_bytes", "expected"), [(64, 64), (1024, 1024), (8192, 4096)]
)
def test_bundle_crash_policy_sets_stack_size(
    make_harness: Any, firmware: Any, tmp_path: Any, include_stack_bytes: int, expected: int
) -> None:
    options = ManifestOptions(
        crash_minimum_restart_ms=300, crash_include_stack_bytes=include_stack_bytes
    )
    bundle = tmp_path / "k_harness.zip"
    bundle.write_bytes(create_bundle(firmware("k_harness"), options))
    harness = make_harness(image=AppImage.from_path(bundle))
    report = crash(harness, "crash_deep_stack")
    stack = bytes.fromhex(report.stack)
    assert 0x2008_0000 - report.sp > 4096, "the frame is too shallow to show the limit"
    assert len(stack) == expected
    assert stack == harness.read(report.sp, expected)
    # The frame contains (offset & 0xFF), so a run of it shows the stack came from the crash.
    assert bytes(range(16)) in stack
    assert report.restart_delay_us == 300_000
    assert_restarts_after_backoff(harness, report)
