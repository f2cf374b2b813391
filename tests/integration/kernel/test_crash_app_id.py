"""A crash report names the app that crashed, so the cloud can find its ELF."""

from __future__ import annotations

from pathlib import Path

from openvisor.bundle import ManifestOptions, create_bundle
from openvisor.cli.demo import example_elf
from openvisor.device import AppImage, Device
from openvisor.kernel.crash import CrashLog, CrashReport


def test_crash_report_carries_the_app_id(tmp_path: Path) -> None:
    bundle = create_bundle(example_elf("demo_v3"), ManifestOptions())
    image = AppImage.from_bundle(bundle, name="demo_v3")
    assert len(image.app_id) == 64
    device = Device(tmp_path / "device", image=image, device_id="DEV-APP-ID")
    reports: list[CrashReport] = []
    device.crash_listeners.append(reports.append)
    device.boot()
    device.run_for(2.0, until=lambda: bool(reports))
    assert reports, "demo_v3 did not crash"
    assert reports[0].app_id == image.app_id
    saved = device.kernel.family_state(CrashLog).reports[-1]
    assert CrashReport.from_json(saved.to_json()).app_id == image.app_id


def test_old_saved_report_loads() -> None:
    value = CrashReport(
        kind="fault",
        detail="",
        micros=1,
        uptime_us=1,
        pc=0,
        lr=0,
        sp=0,
        xpsr=0,
        fault_address=None,
        access="",
        registers={},
        stack="",
    ).to_json()
    value.pop("app_id", None)
    assert CrashReport.from_json(value).app_id == ""
