"""Slots, the journal and the boot decisions that need no download."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from openvisor.bundle import (
    ManifestOptions,
    build_app_body,
    build_opaque_manifest,
    verify_bundle,
    write_bundle,
)
from openvisor.errors import StateError, UpdateError
from openvisor.ota import MAX_TRIAL_BOOTS, OtaManager, UpdateErrorCode, UpdateStatus
from openvisor.ota.journal import Journal, PendingUpdate, Trial, load_journal, save_journal
from openvisor.ota.slots import SlotStore


def _bundle(seed: int, options: ManifestOptions | None = None) -> bytes:
    image = bytes([seed]) * 4096 + os.urandom(512)
    manifest = build_opaque_manifest(build_app_body(image, options or ManifestOptions()))
    return write_bundle(manifest, [image])


def _manager(tmp_path: Path) -> OtaManager:
    return OtaManager(tmp_path, kernel_version=1, allow_unsigned=True, background=False)


def test_journal_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "journal.json"
    journal = Journal(
        active="a",
        trial=Trial(slot="b", app_id="ab" * 32, deployment_id="D1", boots=2),
        update=PendingUpdate(deployment_id="D2", url="http://127.0.0.1/x", phase="verify"),
        rejected=["cd" * 32],
        wake_reason="APPLICATIONUPDATE",
    )
    save_journal(path, journal)
    assert load_journal(path) == journal


def test_journal_rejects_unknown_slot(tmp_path: Path) -> None:
    path = tmp_path / "journal.json"
    save_journal(path, Journal(active="c"))
    with pytest.raises(StateError, match="unknown slot 'c'"):
        load_journal(path)


def test_spare_slot_skips_active_and_trial() -> None:
    assert Journal().spare_slot() == "a"
    assert Journal(active="a").spare_slot() == "b"
    with pytest.raises(StateError):
        Journal(active="a", trial=Trial("b", "", "")).spare_slot()


def test_slot_detects_damaged_image(tmp_path: Path) -> None:
    verified = verify_bundle(_bundle(1), trust=None, allow_unsigned=True)
    slots = SlotStore(tmp_path)
    slots.write("a", image=verified.image, manifest=verified.manifest.raw)
    contents = slots.read("a")
    assert contents is not None
    assert contents.app_id == verified.app_id

    image_path = slots.slot_dir("a") / "image.bin"
    damaged = bytearray(image_path.read_bytes())
    damaged[10] ^= 0xFF
    image_path.write_bytes(bytes(damaged))
    assert slots.read("a") is None


def test_slot_detects_manifest_of_other_app(tmp_path: Path) -> None:
    first = verify_bundle(_bundle(1), trust=None, allow_unsigned=True)
    second = verify_bundle(_bundle(2), trust=None, allow_unsigned=True)
    slots = SlotStore(tmp_path)
    slots.write("b", image=first.image, manifest=second.manifest.raw)
    assert slots.read("b") is None


def test_no_app_boots_nothing(tmp_path: Path) -> None:
    assert _manager(tmp_path).select_boot() is None


def test_install_local_then_boot(tmp_path: Path) -> None:
    ota = _manager(tmp_path)
    first = ota.install_local(_bundle(1))
    boot = ota.select_boot()
    assert boot is not None
    assert boot.slot == "a"
    assert boot.app_id == first
    assert not boot.trial
    assert boot.wake_reason is None

    second = ota.install_local(_bundle(2))
    boot = ota.select_boot()
    assert boot is not None
    assert boot.app_id == second
    assert boot.slot == "b"
    assert load_journal(ota.journal_path).active == "b"
    assert hashlib.sha256(boot.image).digest() == boot.manifest.layers[0].measurement_hash


def _stage_trial(ota: OtaManager, bundle: bytes, *, boots: int = 0) -> str:
    """Write a bundle to the spare slot and journal it as a trial (as an applied update would)."""
    verified = verify_bundle(bundle, trust=None, allow_unsigned=True)
    journal = load_journal(ota.journal_path)
    slot = journal.spare_slot()
    ota.slots.write(slot, image=verified.image, manifest=verified.manifest.raw)
    journal.trial = Trial(slot=slot, app_id=verified.app_id, deployment_id="D9", boots=boots)
    save_journal(ota.journal_path, journal)
    return verified.app_id


def test_trial_confirms_after_ten_seconds(tmp_path: Path) -> None:
    ota = _manager(tmp_path)
    ota.install_local(_bundle(1))
    new_app = _stage_trial(ota, _bundle(2, ManifestOptions(connection_grace_time_sec=4)))
    boot = ota.select_boot()
    assert boot is not None
    assert boot.trial
    ota.app_started(1_000_000)
    assert ota.service(10_999_999) is None
    assert load_journal(ota.journal_path).trial is not None
    ota.service(11_000_000)
    journal = load_journal(ota.journal_path)
    assert journal.trial is None
    assert ota.slots.app_id(journal.active or "") == new_app
    statuses = [report.status for report in ota.take_reports()]
    assert statuses == [UpdateStatus.CONFIRMED]


def test_trial_waits_for_longer_grace_time(tmp_path: Path) -> None:
    ota = _manager(tmp_path)
    ota.install_local(_bundle(1))
    _stage_trial(ota, _bundle(2, ManifestOptions(connection_grace_time_sec=30)))
    assert ota.select_boot() is not None
    ota.app_started(0)
    ota.service(29_000_000)
    assert load_journal(ota.journal_path).trial is not None
    ota.service(30_000_000)
    assert load_journal(ota.journal_path).trial is None


def test_crash_in_trial_rolls_back(tmp_path: Path) -> None:
    ota = _manager(tmp_path)
    old_app = ota.install_local(_bundle(1))
    new_app = _stage_trial(ota, _bundle(3))
    assert ota.select_boot() is not None
    ota.app_started(0)
    assert ota.app_crashed(50_000)
    boot = ota.select_boot()
    assert boot is not None
    assert boot.app_id == old_app
    assert boot.wake_reason == "APPLICATIONCRASH"
    assert new_app in load_journal(ota.journal_path).rejected
    (report,) = ota.take_reports()
    assert report.status is UpdateStatus.ROLLED_BACK
    assert report.error_code is UpdateErrorCode.APP_CRASHED
    # The next boot is an ordinary one again.
    again = ota.select_boot()
    assert again is not None
    assert again.wake_reason is None


def test_crash_of_confirmed_app_is_not_rollback(tmp_path: Path) -> None:
    ota = _manager(tmp_path)
    ota.install_local(_bundle(1))
    assert ota.select_boot() is not None
    ota.app_started(0)
    assert not ota.app_crashed(10)


def test_trial_boot_limit_rolls_back(tmp_path: Path) -> None:
    ota = _manager(tmp_path)
    old_app = ota.install_local(_bundle(1))
    _stage_trial(ota, _bundle(2), boots=MAX_TRIAL_BOOTS)
    boot = ota.select_boot()
    assert boot is not None
    assert boot.app_id == old_app
    assert boot.wake_reason == "APPLICATIONCRASH"
    (report,) = ota.take_reports()
    assert report.error_code is UpdateErrorCode.TRIAL_BOOT_LIMIT


def test_confirm_needs_check_in_with_cloud(tmp_path: Path) -> None:
    ota = OtaManager(
        tmp_path, kernel_version=1, allow_unsigned=True, cloud_configured=True, background=False
    )
    ota.install_local(_bundle(1))
    _stage_trial(ota, _bundle(2))
    assert ota.select_boot() is not None
    ota.app_started(0)
    ota.service(20_000_000)
    assert load_journal(ota.journal_path).trial is not None
    ota.checked_in()
    ota.service(20_000_001)
    assert load_journal(ota.journal_path).trial is None


def test_confirm_timeout_rolls_back(tmp_path: Path) -> None:
    ota = OtaManager(
        tmp_path, kernel_version=1, allow_unsigned=True, cloud_configured=True, background=False
    )
    old_app = ota.install_local(_bundle(1))
    _stage_trial(ota, _bundle(2))
    assert ota.select_boot() is not None
    ota.app_started(0)
    action = ota.service(71_000_000)
    assert action is not None
    assert action.value == "restart"
    boot = ota.select_boot()
    assert boot is not None
    assert boot.app_id == old_app
    (report,) = ota.take_reports()
    assert report.error_code is UpdateErrorCode.CONFIRM_TIMEOUT


def test_install_local_refuses_rolled_back_app(tmp_path: Path) -> None:
    ota = _manager(tmp_path)
    ota.install_local(_bundle(1))
    bad = _bundle(3)
    _stage_trial(ota, bad)
    assert ota.select_boot() is not None
    ota.app_started(0)
    ota.app_crashed(1)
    with pytest.raises(UpdateError, match="rolled back"):
        ota.install_local(bad)
    assert ota.install_local(bad, force=True)


def test_pending_reports_are_capped(tmp_path: Path) -> None:
    ota = _manager(tmp_path)
    ota.install_local(_bundle(1))
    for index in range(60):
        bad = _bundle(10 + index)
        _stage_trial(ota, bad)
        assert ota.select_boot() is not None
        ota.app_started(0)
        assert ota.app_crashed(1)
    reports = ota.take_reports()
    assert len(reports) == 50
    assert len(load_journal(ota.journal_path).rejected) == 60


def test_cloud_restart_not_trial_boot(tmp_path: Path) -> None:
    ota = _manager(tmp_path)
    ota.install_local(_bundle(1))
    new_app = _stage_trial(ota, _bundle(2), boots=MAX_TRIAL_BOOTS - 1)
    assert ota.select_boot() is not None
    for _ in range(MAX_TRIAL_BOOTS):
        ota.restart_requested_by_cloud()
        boot = ota.select_boot()
        assert boot is not None
        assert boot.app_id == new_app
    assert load_journal(ota.journal_path).trial.boots == MAX_TRIAL_BOOTS  # type: ignore[union-attr]
    # A boot without a cloud request (a power cut) still counts and hits the limit.
    boot = ota.select_boot()
    assert boot is not None
    assert boot.app_id != new_app
