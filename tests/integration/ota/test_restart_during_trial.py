"""Cloud restart requests while an updated app is on trial."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from openvisor.bundle import ManifestOptions, create_bundle, verify_bundle
from openvisor.device import Device, DeviceState
from openvisor.kernel.abi import KERNEL_VERSION, MvWakeReason
from openvisor.kernel.net.state import NetState
from openvisor.link import messages as msg
from openvisor.ota import MAX_TRIAL_BOOTS, OtaManager
from openvisor.ota.journal import Trial, load_journal, save_journal


def _stage_trial(ota: OtaManager, bundle: bytes) -> str:
    """Journal ``bundle`` as a trial in the spare slot, as an applied update leaves it."""
    verified = verify_bundle(bundle, trust=None, allow_unsigned=True)
    journal = load_journal(ota.journal_path)
    slot = journal.spare_slot()
    ota.slots.write(slot, image=verified.image, manifest=verified.manifest.raw)
    journal.trial = Trial(slot=slot, app_id=verified.app_id, deployment_id="D1", boots=0)
    save_journal(ota.journal_path, journal)
    return verified.app_id


def test_cloud_restarts_keep_trial(firmware: Callable[[str], Path], tmp_path: Path) -> None:
    ota = OtaManager(tmp_path, kernel_version=KERNEL_VERSION, allow_unsigned=True, background=False)
    ota.install_local(create_bundle(firmware("hello"), ManifestOptions()))
    new_app = _stage_trial(ota, create_bundle(firmware("k_wake_reason"), ManifestOptions()))
    device = Device(tmp_path, ota=ota)
    wakes: list[MvWakeReason] = []
    device.boot_listeners.append(lambda count, wake: wakes.append(wake))
    device.boot()
    device.run_for(0.5)
    net = device.kernel.family_state(NetState)

    for _ in range(MAX_TRIAL_BOOTS + 1):
        net.apply_message(msg.RestartRequest(target="app"))
        device.run_for(0.5)

    journal = load_journal(ota.journal_path)
    assert new_app not in journal.rejected
    assert journal.trial is not None
    assert journal.trial.boots == 1

    # Quick restarts in a row wait the restart-loop back-off, then the trial app runs on.
    device.run_for(12.0)
    assert wakes[-1] is MvWakeReason.REMOTEAPPLICATIONRESTART
    assert device.state is DeviceState.RUNNING
    journal = load_journal(ota.journal_path)
    assert journal.trial is None
    assert ota.slots.app_id(journal.active or "") == new_app
