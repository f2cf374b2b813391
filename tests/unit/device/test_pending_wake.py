"""kernel/pending-wake.json: written when a restart is pending, read once per boot."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from openvisor.device import AppImage, Device, DeviceConfig, DeviceState
from openvisor.device.device import WAKE_STATE_FILE
from openvisor.kernel.abi import MvWakeReason
from openvisor.kernel.crash import CrashPolicy
from openvisor.kernel.net.state import NetState
from openvisor.link import messages as msg

RESTART_MS = 100


def _device(state_dir: Path, firmware: Callable[[str], Path]) -> tuple[Device, list[MvWakeReason]]:
    image = AppImage.from_path(firmware("app_crash"))
    policy = CrashPolicy(minimum_restart_ms=RESTART_MS, maximum_restart_ms=RESTART_MS)
    image = dataclasses.replace(image, crash_policy=policy)
    device = Device(state_dir, image=image, config=DeviceConfig(seed=7))
    wakes: list[MvWakeReason] = []
    device.boot_listeners.append(lambda count, wake: wakes.append(wake))
    return device, wakes


def test_damaged_pending_wake_logs_once(
    firmware: Callable[[str], Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / WAKE_STATE_FILE
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"wake_reason": "DEEPSL')
    device, wakes = _device(tmp_path, firmware)

    with caplog.at_level(logging.ERROR, logger="openvisor.device.device"):
        device.boot()
        device.run_for(0.35)

    errors = [r.getMessage() for r in caplog.records if str(path) in r.getMessage()]
    assert len(errors) == 1, errors
    assert "Boot as COLDBOOT" in errors[0]
    assert wakes[0] is MvWakeReason.COLDBOOT
    # The crash restarts go on without reading the file again.
    assert wakes[1:3] == [MvWakeReason.APPLICATIONCRASH] * 2


def test_wake_file_only_while_pending(firmware: Callable[[str], Path], tmp_path: Path) -> None:
    path = tmp_path / WAKE_STATE_FILE
    device, _wakes = _device(tmp_path, firmware)
    device.boot()
    assert device.boot_count == 1
    assert not path.exists()

    device.run_for(0.05, until=lambda: device.state is DeviceState.WAITING_RESTART)
    assert device.state is DeviceState.WAITING_RESTART
    assert path.read_text().count('"APPLICATIONCRASH"') == 1

    device.run_for(RESTART_MS / 1000, until=lambda: device.boot_count == 2)
    assert device.boot_count == 2
    assert not path.exists()


def test_new_process_resumes_pending_wake(firmware: Callable[[str], Path], tmp_path: Path) -> None:
    first, _ = _device(tmp_path, firmware)
    first.boot()
    first.run_for(0.05, until=lambda: first.state is DeviceState.WAITING_RESTART)
    assert (tmp_path / WAKE_STATE_FILE).exists()

    second, wakes = _device(tmp_path, firmware)
    second.boot()

    assert wakes == [MvWakeReason.APPLICATIONCRASH]
    assert not (tmp_path / WAKE_STATE_FILE).exists()


def test_explicit_wake_removes_file(firmware: Callable[[str], Path], tmp_path: Path) -> None:
    first, _ = _device(tmp_path, firmware)
    first.boot()
    first.run_for(0.05, until=lambda: first.state is DeviceState.WAITING_RESTART)

    second, wakes = _device(tmp_path, firmware)
    second.boot(MvWakeReason.COLDBOOT)

    assert wakes == [MvWakeReason.COLDBOOT]
    assert not (tmp_path / WAKE_STATE_FILE).exists()


def test_restart_request_ends_backoff(firmware: Callable[[str], Path], tmp_path: Path) -> None:
    """A cloud restart during a crash back-off starts the app at once, as a remote restart."""
    image = AppImage.from_path(firmware("app_crash"))
    policy = CrashPolicy(minimum_restart_ms=10_000, maximum_restart_ms=10_000)
    device = Device(tmp_path, image=dataclasses.replace(image, crash_policy=policy))
    wakes: list[MvWakeReason] = []
    device.boot_listeners.append(lambda count, wake: wakes.append(wake))
    device.boot()
    device.run_for(0.05, until=lambda: device.state is DeviceState.WAITING_RESTART)
    assert device.state is DeviceState.WAITING_RESTART
    waiting_since_us = device.kernel.micros()

    device.kernel.family_state(NetState).apply_message(msg.RestartRequest(target="app"))
    device.step()

    assert wakes == [MvWakeReason.COLDBOOT, MvWakeReason.REMOTEAPPLICATIONRESTART]
    assert device.state is DeviceState.RUNNING
    assert device.kernel.micros() - waiting_since_us < 1_000_000  # not the 10 s back-off
    assert pending_wake_text(tmp_path) is None


def test_restart_request_without_app_dropped(
    firmware: Callable[[str], Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With no app installed, a restart request changes nothing and is logged."""
    device = Device(tmp_path, image=None)
    device.boot()
    assert device.state is DeviceState.NO_APP
    with caplog.at_level(logging.INFO, logger="openvisor.device.device"):
        device.kernel.family_state(NetState).apply_message(msg.RestartRequest(target="app"))
        device.step()
    assert device.state is DeviceState.NO_APP
    assert any("Drop app exit request" in record.getMessage() for record in caplog.records)
    assert device.kernel.take_exit() is None


def pending_wake_text(state_dir: Path) -> str | None:
    """Return the wake reason of the pending restart, or None when none is pending."""
    path = state_dir / WAKE_STATE_FILE
    return path.read_text() if path.exists() else None
