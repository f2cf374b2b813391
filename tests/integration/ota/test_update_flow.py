"""Deployments end to end over loopback HTTP: download, verify, install, trial, confirm, rollback."""

from __future__ import annotations

import hashlib
import io
import zipfile
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
    read_bundle,
    schema,
    write_bundle,
)
from openvisor.ota import (
    DeployRequest,
    OtaAction,
    OtaManager,
    UpdateErrorCode,
    UpdateStatus,
)
from openvisor.ota.journal import load_journal


def _device(tmp_path: Path, trust: TrustStore, v1: Any, **kwargs: object) -> OtaManager:
    ota = OtaManager(
        tmp_path / "device",
        kernel_version=1,
        trust=trust,
        background=False,
        http_client=httpx.Client(timeout=10),
        **kwargs,  # type: ignore[arg-type]
    )
    ota.install_local(v1.bundle)
    boot = ota.select_boot()
    assert boot is not None
    assert boot.app_id == v1.app_id
    ota.app_started(0)
    return ota


def _statuses(ota: OtaManager) -> list[tuple[UpdateStatus, UpdateErrorCode]]:
    return [(report.status, report.error_code) for report in ota.take_reports()]


def test_update_confirms(
    tmp_path: Path,
    bundle_server: Any,
    app_versions: dict[str, Any],
    trust: TrustStore,
) -> None:
    v1, v2 = app_versions["v1"], app_versions["v2"]
    ota = _device(tmp_path, trust, v1)
    url = bundle_server.add("/bundles/v2.zip", v2.bundle)

    ota.deploy(DeployRequest("DP1", url, app_id=v2.app_id))
    assert ota.service(1_000_000) is OtaAction.RESTART_FOR_UPDATE

    boot = ota.select_boot()
    assert boot is not None
    assert boot.app_id == v2.app_id
    assert boot.trial
    assert boot.wake_reason == "APPLICATIONUPDATE"
    assert boot.image[: len(v2.image)] == v2.image
    ota.app_started(0)
    ota.service(10_000_000)

    journal = load_journal(ota.journal_path)
    assert journal.trial is None
    assert ota.slots.app_id(journal.active or "") == v2.app_id
    assert _statuses(ota) == [
        (UpdateStatus.DOWNLOADING, UpdateErrorCode.NONE),
        (UpdateStatus.INSTALLED, UpdateErrorCode.NONE),
        (UpdateStatus.TRIAL, UpdateErrorCode.NONE),
        (UpdateStatus.CONFIRMED, UpdateErrorCode.NONE),
    ]
    assert not ota.download_path.exists()


def test_crashing_update_rolls_back_and_is_refused(
    tmp_path: Path,
    bundle_server: Any,
    app_versions: dict[str, Any],
    trust: TrustStore,
) -> None:
    v1, v3 = app_versions["v1"], app_versions["v3"]
    ota = _device(tmp_path, trust, v1)
    url = bundle_server.add("/bundles/v3.zip", v3.bundle)

    ota.deploy(DeployRequest("DP3", url, app_id=v3.app_id))
    assert ota.service(0) is OtaAction.RESTART_FOR_UPDATE
    boot = ota.select_boot()
    assert boot is not None
    assert boot.app_id == v3.app_id
    ota.app_started(0)
    assert ota.app_crashed(2_000)

    boot = ota.select_boot()
    assert boot is not None
    assert boot.app_id == v1.app_id
    assert boot.wake_reason == "APPLICATIONCRASH"
    assert _statuses(ota)[-1] == (UpdateStatus.ROLLED_BACK, UpdateErrorCode.APP_CRASHED)

    requests_before = len(bundle_server.requests)
    ota.deploy(DeployRequest("DP4", url, app_id=v3.app_id))
    assert _statuses(ota) == [(UpdateStatus.REFUSED, UpdateErrorCode.PREVIOUSLY_ROLLED_BACK)]
    assert len(bundle_server.requests) == requests_before

    ota.deploy(DeployRequest("DP5", url, app_id=v3.app_id, force=True))
    assert load_journal(ota.journal_path).update is not None
    assert ota.restart_requested()


def test_interrupted_download_resumes(
    tmp_path: Path,
    bundle_server: Any,
    app_versions: dict[str, Any],
    trust: TrustStore,
) -> None:
    v1, v2 = app_versions["v1"], app_versions["v2"]
    ota = _device(tmp_path, trust, v1)
    url = bundle_server.add("/bundles/v2.zip", v2.bundle)
    bundle_server.drop_after["/bundles/v2.zip"] = 20_000

    ota.deploy(DeployRequest("DP1", url))
    journal = load_journal(ota.journal_path)
    assert journal.update is not None
    assert journal.update.phase == "download"
    assert ota.download_path.stat().st_size == 20_000

    ota.resume()
    assert bundle_server.requests == [
        ("/bundles/v2.zip", None),
        ("/bundles/v2.zip", "bytes=20000-"),
    ]
    journal = load_journal(ota.journal_path)
    assert journal.update is not None
    assert journal.update.phase == "staged"
    assert journal.update.app_id == v2.app_id


def test_forged_signature_fails_update(
    tmp_path: Path,
    bundle_server: Any,
    app_versions: dict[str, Any],
    trust: TrustStore,
) -> None:
    v1, v2 = app_versions["v1"], app_versions["v2"]
    ota = _device(tmp_path, trust, v1)
    manifest = schema.OpaqueManifest.FromString(read_bundle(v2.bundle).manifest)
    forged = bytearray(manifest.signature)
    forged[0] ^= 0x01
    manifest.signature = bytes(forged)
    data = write_bundle(bytes(manifest.SerializeToString()), [v2.image])
    url = bundle_server.add("/bundles/forged.zip", data)

    ota.deploy(DeployRequest("DPF", url))
    assert _statuses(ota)[-1] == (UpdateStatus.FAILED, UpdateErrorCode.SIGNATURE_REJECTED)
    assert load_journal(ota.journal_path).update is None
    assert ota.service(0) is None


def test_untrusted_signer_fails_update(
    tmp_path: Path,
    bundle_server: Any,
    app_versions: dict[str, Any],
    trust: TrustStore,
) -> None:
    v1, v2 = app_versions["v1"], app_versions["v2"]
    ota = _device(tmp_path, trust, v1)
    stranger = PrivateKeySigner.generate()
    body = build_app_body(v2.image, ManifestOptions())
    url = bundle_server.add(
        "/bundles/stranger.zip", write_bundle(build_opaque_manifest(body, stranger), [v2.image])
    )
    ota.deploy(DeployRequest("DPS", url))
    assert _statuses(ota)[-1] == (UpdateStatus.FAILED, UpdateErrorCode.SIGNATURE_REJECTED)


def test_tampered_layer_fails_after_refetch(
    tmp_path: Path,
    bundle_server: Any,
    app_versions: dict[str, Any],
    trust: TrustStore,
    signer: PrivateKeySigner,
) -> None:
    v1, v2 = app_versions["v1"], app_versions["v2"]
    ota = _device(tmp_path, trust, v1)
    body = build_app_body(v2.image, ManifestOptions())
    manifest = build_opaque_manifest(body, signer)
    tampered = bytearray(v2.image)
    tampered[0x200] ^= 0x10
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest", manifest)
        archive.writestr(hashlib.sha256(v2.image).hexdigest(), bytes(tampered))
    url = bundle_server.add("/bundles/tampered.zip", buffer.getvalue())

    ota.deploy(DeployRequest("DPT", url))
    assert _statuses(ota)[-1] == (UpdateStatus.FAILED, UpdateErrorCode.HASH_MISMATCH)
    full_fetches = [r for r in bundle_server.requests if r == ("/bundles/tampered.zip", None)]
    assert len(full_fetches) == 2
    boot = ota.select_boot()
    assert boot is not None
    assert boot.app_id == v1.app_id


def test_kernel_too_old_fails_update(
    tmp_path: Path,
    bundle_server: Any,
    app_versions: dict[str, Any],
    trust: TrustStore,
    signer: PrivateKeySigner,
) -> None:
    v1, v2 = app_versions["v1"], app_versions["v2"]
    ota = _device(tmp_path, trust, v1)
    body = build_app_body(v2.image, ManifestOptions(minimum_kernel_version=99))
    url = bundle_server.add(
        "/bundles/new-kernel.zip", write_bundle(build_opaque_manifest(body, signer), [v2.image])
    )
    ota.deploy(DeployRequest("DPK", url))
    assert _statuses(ota)[-1] == (UpdateStatus.FAILED, UpdateErrorCode.KERNEL_TOO_OLD)


def test_missing_bundle_keeps_update_pending(
    tmp_path: Path,
    bundle_server: Any,
    app_versions: dict[str, Any],
    trust: TrustStore,
) -> None:
    ota = _device(tmp_path, trust, app_versions["v1"])
    ota.deploy(DeployRequest("DPM", f"{bundle_server.base_url}/bundles/none.zip"))
    journal = load_journal(ota.journal_path)
    assert journal.update is not None
    assert journal.update.phase == "download"
    assert ota.cancel("DPM")
    assert load_journal(ota.journal_path).update is None


@pytest.mark.parametrize("notification_open", [True, False])
def test_polite_update(
    tmp_path: Path,
    bundle_server: Any,
    app_versions: dict[str, Any],
    trust: TrustStore,
    signer: PrivateKeySigner,
    notification_open: bool,
) -> None:
    v1, v2 = app_versions["v1"], app_versions["v2"]
    polite_body = build_app_body(v1.image, ManifestOptions(maximum_politeness_time_sec=30))
    polite_v1 = write_bundle(build_opaque_manifest(polite_body, signer), [v1.image])
    ota = OtaManager(
        tmp_path / "device",
        kernel_version=1,
        trust=trust,
        background=False,
        http_client=httpx.Client(timeout=10),
    )
    ota.install_local(polite_v1)
    assert ota.select_boot() is not None
    ota.app_started(0)
    url = bundle_server.add("/bundles/v2.zip", v2.bundle)
    ota.deploy(DeployRequest("DPP", url))

    if not notification_open:
        assert ota.service(1_000_000) is OtaAction.RESTART_FOR_UPDATE
        return
    assert ota.service(1_000_000, update_notification_open=True) is (
        OtaAction.NOTIFY_UPDATE_DOWNLOADED
    )
    assert ota.service(20_000_000, update_notification_open=True) is None
    assert ota.restart_requested()
    assert ota.service(31_000_000, update_notification_open=True) is (OtaAction.RESTART_FOR_UPDATE)
    boot = ota.select_boot()
    assert boot is not None
    assert boot.app_id == v2.app_id
    assert boot.wake_reason == "APPLICATIONUPDATE"
