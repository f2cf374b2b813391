"""A device with no application keeps servicing OTA and starts the app once installed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from openvisor.bundle import ManifestOptions, create_bundle
from openvisor.device import Device, DeviceConfig, DeviceState
from openvisor.kernel.abi import KERNEL_VERSION
from openvisor.ota.engine import OtaManager


def test_device_waits_for_an_app(firmware: Callable[[str], Path], tmp_path: Path) -> None:
    ota = OtaManager(tmp_path, kernel_version=KERNEL_VERSION, allow_unsigned=True)
    device = Device(tmp_path, ota=ota, config=DeviceConfig(factory_test=True))
    device.boot()
    assert device.state is DeviceState.NO_APP
    device.run_for(2.0)
    assert device.state is DeviceState.NO_APP
    assert device.boot_count == 0

    ota.install_local(create_bundle(firmware("k_selftest"), ManifestOptions()))
    device.run_for(5.0)
    assert device.boot_count == 1
    assert device.state is DeviceState.FINISHED
    assert device.test_status == 0
