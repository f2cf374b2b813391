"""Every restart of the same installed image boots one parsed image with its stored scans."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from openvisor.bundle import ManifestOptions, create_bundle
from openvisor.device import Device, DeviceConfig
from openvisor.kernel.abi import KERNEL_VERSION, MvWakeReason
from openvisor.ota.engine import OtaManager


def test_ota_restart_reuses_image(firmware: Callable[[str], Path], tmp_path: Path) -> None:
    ota = OtaManager(tmp_path, kernel_version=KERNEL_VERSION, allow_unsigned=True)
    ota.install_local(create_bundle(firmware("app_crash"), ManifestOptions()))
    device = Device(tmp_path, ota=ota, config=DeviceConfig(seed=3))
    boots: list[tuple[MvWakeReason, Any]] = []
    device.boot_listeners.append(lambda count, wake: boots.append((wake, device.machine.image)))

    device.boot()
    device.run_for(3.5, until=lambda: len(boots) == 3)

    assert [wake for wake, _ in boots] == [
        MvWakeReason.COLDBOOT,
        MvWakeReason.APPLICATIONCRASH,
        MvWakeReason.APPLICATIONCRASH,
    ]
    first = boots[0][1]
    assert all(image is first for _, image in boots)
    assert "sev" in first.scans
