"""Damaged device state on disk: the device still boots a valid app and reports what it repaired."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import pytest

from openvisor.bundle import (
    ManifestOptions,
    TrustStore,
    build_app_body,
    build_opaque_manifest,
    schema,
    write_bundle,
)
from openvisor.errors import StateError
from openvisor.ota import OtaManager, UpdateReport, UpdateStatus
from openvisor.ota.journal import load_journal, save_journal


def _bundle(seed: int) -> bytes:
    image = bytes([seed]) * 4096 + os.urandom(256)
    return write_bundle(build_opaque_manifest(build_app_body(image, ManifestOptions())), [image])


def _manager(state: Path) -> OtaManager:
    return OtaManager(state, kernel_version=1, allow_unsigned=True, background=False)


def _two_apps(state: Path) -> tuple[str, str]:
    """Install app 1 in slot a, then app 2 in slot b (confirmed), a second apart on disk."""
    ota = _manager(state)
    first = ota.install_local(_bundle(1))
    manifest_a = ota.slots.slot_dir("a") / "manifest.bin"
    past = time.time() - 60
    os.utime(manifest_a, (past, past))
    second = ota.install_local(_bundle(2))
    return first, second


JOURNAL_DAMAGE = {
    "not json": b'{"active": "b", "tri',
    "empty file": b"",
    "binary garbage": bytes(range(256)),
    "json list": b"[1, 2, 3]",
    "wrong version": json.dumps({"version": 99, "active": "b"}).encode(),
    "wrong field type": json.dumps({"version": 1, "active": "b", "rejected": 5}).encode(),
    "trial missing keys": json.dumps(
        {"version": 1, "active": "a", "trial": {"slot": "b"}}
    ).encode(),
    "unknown slot": json.dumps({"version": 1, "active": "../../etc"}).encode(),
}


@pytest.mark.parametrize("damage", sorted(JOURNAL_DAMAGE))
def test_damaged_journal_boots_a_valid_app(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = _two_apps(tmp_path)
    journal_path = tmp_path / "ota" / "journal.json"
    journal_path.write_bytes(JOURNAL_DAMAGE[damage])

    with caplog.at_level(logging.WARNING, logger="openvisor.ota"):
        ota = _manager(tmp_path)
    assert len(ota.repairs) == 1
    assert "rebuilt the update journal" in ota.repairs[0]
    assert "journal.json.damaged" in ota.repairs[0]
    assert any("Repair update journal" in r.getMessage() for r in caplog.records)
    assert (tmp_path / "ota" / "journal.json.damaged").read_bytes() == JOURNAL_DAMAGE[damage]

    # The newer app boots on trial with the older one as the fallback.
    boot = ota.select_boot()
    assert boot is not None
    assert boot.app_id == second
    assert boot.trial
    ota.app_started(0)
    assert ota.app_crashed(1_000)
    boot = ota.select_boot()
    assert boot is not None
    assert boot.app_id == first
    assert boot.wake_reason == "APPLICATIONCRASH"
    # A repair trial belongs to no deployment, so nothing is reported to the cloud.
    assert ota.take_reports() == []


def test_damaged_journal_trial_confirms_when_it_runs(tmp_path: Path) -> None:
    _, second = _two_apps(tmp_path)
    (tmp_path / "ota" / "journal.json").write_text("garbage")
    ota = _manager(tmp_path)
    boot = ota.select_boot()
    assert boot is not None and boot.trial
    ota.app_started(0)
    ota.service(ota.trial_confirm_after_us())
    journal = load_journal(ota.journal_path)
    assert journal.trial is None
    assert ota.slots.app_id(journal.active or "") == second


def test_damaged_journal_with_one_valid_slot(tmp_path: Path) -> None:
    _, second = _two_apps(tmp_path)
    (tmp_path / "ota" / "slot-a" / "image.bin").write_bytes(b"\x00" * 10)
    (tmp_path / "ota" / "journal.json").write_text("garbage")
    ota = _manager(tmp_path)
    assert "slot b is the confirmed app" in ota.repairs[0]
    boot = ota.select_boot()
    assert boot is not None
    assert boot.app_id == second
    assert not boot.trial


def test_damaged_journal_without_valid_slot_boots_nothing(tmp_path: Path) -> None:
    (tmp_path / "ota").mkdir()
    (tmp_path / "ota" / "journal.json").write_text("garbage")
    ota = _manager(tmp_path)
    assert "none is installed" in ota.repairs[0]
    assert ota.select_boot() is None


@pytest.mark.parametrize("damaged_file", ["image.bin", "manifest.bin"])
def test_damaged_confirmed_slot_falls_back_to_other_slot(
    tmp_path: Path, damaged_file: str, caplog: pytest.LogCaptureFixture
) -> None:
    first, _ = _two_apps(tmp_path)
    path = tmp_path / "ota" / "slot-b" / damaged_file
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    ota = _manager(tmp_path)
    with caplog.at_level(logging.WARNING, logger="openvisor.ota"):
        boot = ota.select_boot()
    assert boot is not None
    assert boot.app_id == first
    assert ota.repairs == [
        (
            f"confirmed slot b failed its integrity check; slot a (app_id={first}) is the "
            "confirmed app now"
        )
    ]
    assert any("Repair boot slot" in r.getMessage() for r in caplog.records)
    assert load_journal(ota.journal_path).active == "a"


def test_damaged_slot_does_not_fall_back_to_rolled_back_app(tmp_path: Path) -> None:
    first, _ = _two_apps(tmp_path)
    journal = load_journal(tmp_path / "ota" / "journal.json")
    journal.rejected.append(first)
    save_journal(tmp_path / "ota" / "journal.json", journal)
    (tmp_path / "ota" / "slot-b" / "image.bin").write_bytes(b"")
    with pytest.raises(StateError, match="slot b .* fails its integrity check and slot a"):
        _manager(tmp_path).select_boot()


def test_report_of_real_deployment_still_recorded(tmp_path: Path) -> None:
    ota = _manager(tmp_path)
    journal = load_journal(ota.journal_path)
    ota._report(journal, UpdateReport("D1", UpdateStatus.DOWNLOADING))
    ota._report(journal, UpdateReport("", UpdateStatus.TRIAL))
    assert [UpdateReport.from_body(body).deployment_id for body in journal.reports] == ["D1"]


def test_changed_manifest_in_confirmed_slot_is_caught(tmp_path: Path) -> None:
    """A manifest that still matches the image but is not the installed one (bit rot, edits)."""
    first, second = _two_apps(tmp_path)
    ota = _manager(tmp_path)
    manifest_b = ota.slots.slot_dir("b") / "manifest.bin"
    opaque = schema.OpaqueManifest()
    opaque.ParseFromString(manifest_b.read_bytes())
    body = schema.AppBody()
    body.ParseFromString(opaque.body)
    body.connectivity.connection_grace_time_sec = 999
    opaque.body = body.SerializeToString()
    manifest_b.write_bytes(opaque.SerializeToString())
    assert ota.slots.read("b") is not None  # the measurement alone does not notice

    boot = ota.select_boot()
    assert boot is not None
    assert boot.app_id == first
    assert "confirmed slot b failed its integrity check" in ota.repairs[0]
    assert load_journal(ota.journal_path).active_app_id == first
    assert second != first


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b'["keys"]',
        b'{"keys": [{"public_key": "zz"}]}',
        b'{"keys": [{"public_key": "04' + b"01" * 64 + b'"}]}',
    ],
)
def test_damaged_trust_store_is_state_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "trust.json"
    path.write_bytes(content)
    with pytest.raises(StateError, match=f"{path}.*provision the device again|{path}.*remove it"):
        TrustStore.load(path)
