"""Updates on the virtual device with the demo firmware: v1, v2, and v3 that crashes at start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from openvisor.bundle import (
    ManifestOptions,
    PrivateKeySigner,
    TrustStore,
    build_app_body,
    build_opaque_manifest,
    write_bundle,
)
from openvisor.ota import DeployRequest, OtaManager, UpdateErrorCode, UpdateStatus
from openvisor.ota.journal import load_journal

machine_package = pytest.importorskip("openvisor.machine")
if not hasattr(machine_package, "Machine"):
    pytest.skip("openvisor.machine.Machine is not available", allow_module_level=True)

from openvisor.device import Device, DeviceConfig
from openvisor.kernel.abi import KERNEL_VERSION, MvWakeReason


class Booted:
    """Records every app start of a device with the app id the OTA manager selected."""

    def __init__(self, device: Device, ota: OtaManager) -> None:
        self.starts: list[tuple[str, MvWakeReason]] = []
        self._ota = ota
        device.boot_listeners.append(self._on_boot)

    def _on_boot(self, _count: int, wake: MvWakeReason) -> None:
        running = self._ota._running
        self.starts.append((running.app_id if running else "", wake))


def _device(
    tmp_path: Path, trust: TrustStore, first_bundle: bytes
) -> tuple[Device, OtaManager, Booted]:
    state = tmp_path / "device"
    ota = OtaManager(
        state,
        kernel_version=KERNEL_VERSION,
        trust=trust,
        background=False,
        http_client=httpx.Client(timeout=10),
    )
    ota.install_local(first_bundle)
    device = Device(state, ota=ota, config=DeviceConfig(seed=7))
    booted = Booted(device, ota)
    device.boot()
    return device, ota, booted


def test_update_to_v2_confirms(
    tmp_path: Path,
    bundle_server: Any,
    app_versions: dict[str, Any],
    trust: TrustStore,
) -> None:
    v1, v2 = app_versions["v1"], app_versions["v2"]
    device, ota, booted = _device(tmp_path, trust, v1.bundle)
    device.run_for(1.0)
    assert booted.starts == [(v1.app_id, MvWakeReason.COLDBOOT)]

    url = bundle_server.add("/bundles/v2.zip", v2.bundle)
    ota.deploy(DeployRequest("DP2", url, app_id=v2.app_id))
    device.run_for(1.0)
    assert booted.starts[-1] == (v2.app_id, MvWakeReason.APPLICATIONUPDATE)
    assert load_journal(ota.journal_path).trial is not None

    device.run_for(11.0)
    journal = load_journal(ota.journal_path)
    assert journal.trial is None
    assert ota.slots.app_id(journal.active or "") == v2.app_id
    assert len(booted.starts) == 2
    statuses = [report.status for report in ota.take_reports()]
    assert statuses[-1] is UpdateStatus.CONFIRMED


def test_crashing_v3_rolls_back_to_v1(
    tmp_path: Path,
    bundle_server: Any,
    app_versions: dict[str, Any],
    trust: TrustStore,
) -> None:
    v1, v3 = app_versions["v1"], app_versions["v3"]
    device, ota, booted = _device(tmp_path, trust, v1.bundle)
    device.run_for(0.5)

    url = bundle_server.add("/bundles/v3.zip", v3.bundle)
    ota.deploy(DeployRequest("DP3", url, app_id=v3.app_id))
    device.run_for(5.0, until=lambda: booted.starts[-1][1] is MvWakeReason.APPLICATIONCRASH)

    assert (v3.app_id, MvWakeReason.APPLICATIONUPDATE) in booted.starts
    assert booted.starts[-1] == (v1.app_id, MvWakeReason.APPLICATIONCRASH)
    assert device.crash_log.reports
    journal = load_journal(ota.journal_path)
    assert journal.trial is None
    assert v3.app_id in journal.rejected
    rolled_back = [r for r in ota.take_reports() if r.status is UpdateStatus.ROLLED_BACK]
    assert [r.error_code for r in rolled_back] == [UpdateErrorCode.APP_CRASHED]

    starts_before = len(booted.starts)
    ota.deploy(DeployRequest("DP4", url, app_id=v3.app_id))
    device.run_for(0.5)
    assert len(booted.starts) == starts_before
    assert ota.take_reports()[-1].error_code is UpdateErrorCode.PREVIOUSLY_ROLLED_BACK


def test_polite_update_applied_by_app(
    tmp_path: Path,
    bundle_server: Any,
    app_versions: dict[str, Any],
    trust: TrustStore,
    signer: PrivateKeySigner,
) -> None:
    v1, v2 = app_versions["v1"], app_versions["v2"]
    polite_body = build_app_body(v1.image, ManifestOptions(maximum_politeness_time_sec=600))
    polite_v1 = write_bundle(build_opaque_manifest(polite_body, signer), [v1.image])
    device, ota, booted = _device(tmp_path, trust, polite_v1)
    device.run_for(1.0)

    url = bundle_server.add("/bundles/v2.zip", v2.bundle)
    ota.deploy(DeployRequest("DPP", url, app_id=v2.app_id))
    device.run_for(60.0, until=lambda: len(booted.starts) > 1)

    # The demo app restarts itself on UPDATEDOWNLOADED, long before the 600 s run out.
    assert booted.starts[-1] == (v2.app_id, MvWakeReason.APPLICATIONUPDATE)
    assert device.kernel.micros() < 60_000_000
    statuses = [report.status for report in ota.take_reports()]
    assert UpdateStatus.UPDATE_DOWNLOADED in statuses
