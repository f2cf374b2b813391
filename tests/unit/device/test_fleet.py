"""The fleet runner: many devices in one process, slices on worker threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from openvisor.device import AppImage, Device, DeviceConfig, DeviceState, Fleet


def make_device(path: Path, elf: Path) -> Device:
    return Device(path, image=AppImage.from_path(elf), config=DeviceConfig(factory_test=True))


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_fleet_runs_devices_on_worker_threads(
    firmware: Callable[[str], Path], tmp_path: Path
) -> None:
    devices = [make_device(tmp_path / f"d{i}", firmware("k_selftest")) for i in range(3)]
    threads: set[str] = set()
    for device in devices:
        device.boot_listeners.append(lambda *_: threads.add(threading.current_thread().name))
    fleet = Fleet(workers=2, realtime=False)
    for device in devices:
        fleet.add(device)
    fleet.start()
    try:
        wait_until(lambda: all(d.state is DeviceState.FINISHED for d in devices))
    finally:
        fleet.stop()
    assert [device.test_status for device in devices] == [0, 0, 0]
    assert threads and all(name.startswith("fleet-worker-") for name in threads)
    assert len({device.device_id for device in devices}) == 3


def test_fleet_rejects_duplicates_and_bad_worker_count(
    firmware: Callable[[str], Path], tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Fleet(workers=0)
    device = make_device(tmp_path / "d", firmware("hello"))
    fleet = Fleet(workers=1)
    fleet.add(device)
    with pytest.raises(ValueError, match="already in the fleet"):
        fleet.add(device)
    assert fleet.remove(device.device_id) is device
    assert fleet.remove(device.device_id) is None


def test_realtime_pacing_keeps_virtual_time_behind_wall_time(
    firmware: Callable[[str], Path], tmp_path: Path
) -> None:
    device = make_device(tmp_path / "idle", firmware("hello"))
    fleet = Fleet(workers=1, realtime=True)
    fleet.add(device)
    fleet.start()
    try:
        wait_until(lambda: device.boot_count == 1 and device.kernel.micros() > 0)
        wall_start, virtual_start = time.monotonic(), device.kernel.micros()
        time.sleep(0.5)
        wall = time.monotonic() - wall_start
        virtual = (device.kernel.micros() - virtual_start) / 1e6
    finally:
        fleet.stop()
    assert device.state is DeviceState.RUNNING
    assert virtual > 0.2
    assert virtual <= wall + 0.1
