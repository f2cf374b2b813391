"""The device's update engine: download, verify, install, trial boot, confirm and roll back.

The device owns one :class:`OtaManager` per state directory and calls it at
fixed points:

- :meth:`OtaManager.select_boot` before every app start, to get the image to
  run, whether it is on trial and the wake reason to report;
- :meth:`OtaManager.app_started`, :meth:`OtaManager.app_crashed` and
  :meth:`OtaManager.checked_in` as those happen;
- :meth:`OtaManager.service` between CPU slices, which returns the action the
  kernel must take (tell the app ``UPDATEDOWNLOADED``, or restart into the
  update);
- :meth:`OtaManager.deploy` when the cloud offers an update, and
  :meth:`OtaManager.restart_requested` when the app calls
  ``mvRestart(MV_RESTARTMODE_AUTOAPPLYUPDATE)``.

Downloads run on a background thread; everything else runs on the caller's
thread. Each state change is one atomic journal write (see ``journal.py``).
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import httpx

from openvisor.bundle import Manifest, TrustStore, VerifiedBundle, verify_bundle
from openvisor.bundle.container import read_bundle_file
from openvisor.errors import BundleError, StateError, UpdateError
from openvisor.ota.codes import PROBLEM_CODES, UpdateErrorCode, UpdateReport, UpdateStatus
from openvisor.ota.deployments import Deployments
from openvisor.ota.journal import Journal, PendingUpdate, Trial, load_journal, save_journal
from openvisor.ota.repair import load_or_repair_journal
from openvisor.ota.slots import SlotContents, SlotStore

log = logging.getLogger(__name__)

# A trial app is confirmed after running this long without a crash (or its
# connection grace time, when that is longer).
MIN_TRIAL_US = 10_000_000
# A trial that has not confirmed within this much more time is rolled back.
TRIAL_TIMEOUT_EXTRA_US = 60_000_000
# Boots of one trial app (power cuts, not crashes) before it is rolled back.
MAX_TRIAL_BOOTS = 3
# Reports kept in the journal while no link takes them (a device without a cloud).
MAX_PENDING_REPORTS = 50
WAKE_APPLICATION_UPDATE = "APPLICATIONUPDATE"
WAKE_APPLICATION_CRASH = "APPLICATIONCRASH"


class OtaAction(Enum):
    """Action the kernel must take after :meth:`OtaManager.service`."""

    NOTIFY_UPDATE_DOWNLOADED = "notify"  # post UPDATEDOWNLOADED to UPDATE subscribers
    RESTART_FOR_UPDATE = "restart"  # restart the app; select_boot applies the update


@dataclass(frozen=True)
class DeployRequest:
    """A deployment offered by the cloud (the link's ``UpdateOffer``)."""

    deployment_id: str
    url: str
    app_id: str = ""  # expected app id (hex SHA-256 of the manifest body), if known
    force: bool = False  # install even if this app was rolled back before


@dataclass(frozen=True)
class BootSelection:
    """The app to start: its slot, image and manifest, and why it starts."""

    slot: str
    image: bytes  # application flash from 0x0800_0000, 1 MiB
    manifest: Manifest
    trial: bool
    wake_reason: str | None  # an MvWakeReason name, or None for the device's own reason

    @property
    def app_id(self) -> str:
        """The SHA-256 of the manifest body, in hex."""
        return self.manifest.app_id


class OtaManager(Deployments):
    """A/B application slots and over-the-air updates for one device state directory.

    The deployment methods (`deploy`, `cancel`, `resume`, `wait`, `run_update`)
    come from `Deployments`.

    Example::

        ota = OtaManager(state_dir, kernel_version=KERNEL_VERSION)
        boot = ota.select_boot()
        if boot is not None:
            machine.load_image(boot.image)
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        kernel_version: int,
        trust: TrustStore | None = None,
        allow_unsigned: bool = False,
        cloud_configured: bool = False,
        http_client: httpx.Client | None = None,
        on_step: Callable[[str], None] | None = None,
        background: bool = True,
    ) -> None:
        self.root = state_dir / "ota"
        self.root.mkdir(parents=True, exist_ok=True)
        self.journal_path = self.root / "journal.json"
        self.download_path = self.root / "download" / "bundle.zip.part"
        self.trust_path = state_dir / "trust.json"
        self.kernel_version = kernel_version
        self._trust = trust
        self.allow_unsigned = allow_unsigned
        self.cloud_configured = cloud_configured
        self._http = http_client
        self.background = background
        self._step = on_step or (lambda _step: None)
        self.slots = SlotStore(self.root, on_step=self._step)
        self._lock = threading.RLock()
        self._worker: threading.Thread | None = None
        self._journal, repair = load_or_repair_journal(self.journal_path, self.slots)
        # Sentences describing what was repaired on disk, for the device to show.
        self.repairs: list[str] = [repair] if repair else []

        # Per-boot state, in virtual microseconds from the kernel clock.
        self._running: SlotContents | None = None
        self._trial_started_us: int | None = None
        self._checked_in = False
        self._polite_deadline_us: int | None = None
        self._notified = False
        self._next_boot_requested = False

    # ---- state -----------------------------------------------------------------

    @property
    def trust(self) -> TrustStore:
        """The trust store: the one given, else ``<state dir>/trust.json`` read on each use."""
        return self._trust if self._trust is not None else TrustStore.load(self.trust_path)

    @property
    def trust_is_fixed(self) -> bool:
        """Whether the trust store was given in code instead of read from ``trust.json``."""
        return self._trust is not None

    def journal(self) -> Journal:
        """Return a snapshot of the journal."""
        with self._lock:
            return self._load()

    def _load(self) -> Journal:
        self._journal = load_journal(self.journal_path)
        return self._journal

    def _save(self, journal: Journal, step: str) -> None:
        self._step(f"{step}.journal")
        save_journal(self.journal_path, journal)
        self._journal = journal

    def _report(self, journal: Journal, report: UpdateReport) -> None:
        if not report.deployment_id:
            return  # a trial set up by a journal repair belongs to no deployment
        log.info(
            "Record update report (deployment=%s, status=%s, code=%s, app_id=%s)",
            report.deployment_id,
            report.status.value,
            report.error_code.name,
            report.app_id,
        )
        journal.reports.append(report.to_body())
        del journal.reports[:-MAX_PENDING_REPORTS]

    def peek_reports(self) -> list[UpdateReport]:
        """Return the update reports not yet sent to the cloud, leaving them in the journal."""
        with self._lock:
            return [UpdateReport.from_body(body) for body in self._journal.reports]

    def drop_reports(self, count: int) -> None:
        """Remove the oldest ``count`` reports once the link has stored them durably.

        New reports are only ever appended, so the oldest ``count`` are the ones a
        preceding :meth:`peek_reports` returned.
        """
        with self._lock:
            if count <= 0 or not self._journal.reports:
                return
            journal = self._load()
            journal.reports = journal.reports[count:]
            self._save(journal, "report")

    def take_reports(self) -> list[UpdateReport]:
        """Remove and return the update reports not yet sent to the cloud."""
        with self._lock:
            if not self._journal.reports:
                return []
            journal = self._load()
            reports = [UpdateReport.from_body(body) for body in journal.reports]
            journal.reports = []
            self._save(journal, "report")
            return reports

    # ---- boot, trial, confirm, rollback -------------------------------------------

    def select_boot(self) -> BootSelection | None:
        """Choose the app to start and record the boot; None when no app is installed."""
        with self._lock:
            journal = self._load()
            requested, self._next_boot_requested = self._next_boot_requested, False
            update = journal.update
            if update is not None and update.phase == "staged" and journal.trial is None:
                self._apply_staged(journal, update)
                requested = False

            wake_reason = journal.wake_reason
            selection: BootSelection | None = None
            if journal.trial is not None:
                selection = self._boot_trial(journal, counted=not requested)
            if selection is None and journal.active is not None:
                contents = self.slots.read(journal.active)
                expected = journal.active_app_id
                if contents is None or (expected and contents.app_id != expected):
                    contents = self._fall_back_from_damaged_slot(journal)
                selection = BootSelection(
                    contents.slot, contents.image, contents.manifest, False, journal.wake_reason
                )
            if journal.wake_reason is not None:
                journal = self._load()
                wake_reason = journal.wake_reason or wake_reason
                journal.wake_reason = None
                self._save(journal, "boot")

            self._running = None
            self._trial_started_us = None
            self._notified = False
            self._polite_deadline_us = None
            if selection is None:
                return None
            self._running = SlotContents(selection.slot, selection.manifest, selection.image)
            log.info(
                "Select boot (slot=%s, app_id=%s, trial=%s, wake_reason=%s)",
                selection.slot,
                selection.app_id,
                selection.trial,
                wake_reason,
            )
            return BootSelection(
                selection.slot, selection.image, selection.manifest, selection.trial, wake_reason
            )

    def _fall_back_from_damaged_slot(self, journal: Journal) -> SlotContents:
        """Make the other slot the confirmed app when the confirmed slot is damaged."""
        damaged = journal.active
        other = next(slot for slot in ("a", "b") if slot != damaged)
        contents = self.slots.read(other)
        if contents is None or contents.app_id in journal.rejected:
            raise StateError(
                f"confirmed slot {damaged} in {self.root} fails its integrity check and slot "
                f"{other} holds no other valid app; reinstall the app with ov run or a deployment"
            )
        journal.active = other
        journal.active_app_id = contents.app_id
        if journal.update is not None and journal.update.phase in ("install", "staged"):
            # The update was going into the slot that is now the confirmed app,
            # so the cloud offers it again.
            journal.update = None
        self._save(journal, "repair")
        summary = (
            f"confirmed slot {damaged} failed its integrity check; slot {other} "
            f"(app_id={contents.app_id}) is the confirmed app now"
        )
        self.repairs.append(summary)
        log.warning("Repair boot slot (damaged=%s, slot=%s): %s", damaged, other, summary)
        return contents

    def _apply_staged(self, journal: Journal, update: PendingUpdate) -> None:
        """Turn a staged update into a trial (one journal write)."""
        journal.trial = Trial(
            slot=update.slot, app_id=update.app_id, deployment_id=update.deployment_id
        )
        journal.update = None
        journal.wake_reason = WAKE_APPLICATION_UPDATE
        self._report(journal, UpdateReport(update.deployment_id, UpdateStatus.TRIAL, update.app_id))
        self._save(journal, "apply")

    def _boot_trial(self, journal: Journal, *, counted: bool = True) -> BootSelection | None:
        trial = journal.trial
        assert trial is not None
        if counted and trial.boots >= MAX_TRIAL_BOOTS:
            self._roll_back(journal, UpdateErrorCode.TRIAL_BOOT_LIMIT, f"{trial.boots} boots")
            return None
        contents = self.slots.read(trial.slot)
        if contents is None or contents.app_id != trial.app_id:
            self._roll_back(journal, UpdateErrorCode.SLOT_CORRUPT, f"slot {trial.slot}")
            return None
        if counted:
            trial.boots += 1
            self._save(journal, "trial-boot")
        return BootSelection(contents.slot, contents.image, contents.manifest, True, None)

    def _roll_back(self, journal: Journal, code: UpdateErrorCode, detail: str) -> None:
        trial = journal.trial
        assert trial is not None
        log.warning(
            "Roll back update (deployment=%s, app_id=%s, reason=%s, detail=%s)",
            trial.deployment_id,
            trial.app_id,
            code.name,
            detail,
        )
        journal.trial = None
        if trial.app_id not in journal.rejected:
            journal.rejected.append(trial.app_id)
        journal.wake_reason = WAKE_APPLICATION_CRASH
        self._report(
            journal,
            UpdateReport(trial.deployment_id, UpdateStatus.ROLLED_BACK, trial.app_id, code, detail),
        )
        self._save(journal, "rollback")
        self.resume()

    def restart_requested_by_cloud(self) -> None:
        """Leave the next boot out of the trial boot count, which counts power cuts.

        Without this, a few ``ov restart`` commands during a trial would roll a
        healthy update back with TRIAL_BOOT_LIMIT.
        """
        with self._lock:
            self._next_boot_requested = True

    def app_started(self, now_us: int) -> None:
        """Record that the selected app started running at virtual time ``now_us``."""
        with self._lock:
            self._trial_started_us = now_us
            self._checked_in = False

    def checked_in(self) -> None:
        """Record that the device checked in with the cloud since the app started."""
        with self._lock:
            self._checked_in = True

    def app_crashed(self, now_us: int) -> bool:
        """Record an app crash; return True when it rolled back a trial.

        After a rollback the device must call :meth:`select_boot` again, which
        starts the previous app with wake reason ``APPLICATIONCRASH``.
        """
        with self._lock:
            journal = self._load()
            running = self._running
            if journal.trial is None or running is None or running.slot != journal.trial.slot:
                return False
            started = self._trial_started_us if self._trial_started_us is not None else now_us
            self._roll_back(
                journal, UpdateErrorCode.APP_CRASHED, f"crashed after {now_us - started} us"
            )
            self._running = None
            return True

    def trial_confirm_after_us(self) -> int:
        """Return the crash-free run time after which the running trial app is confirmed."""
        grace = self._running.manifest.connection_grace_time_sec if self._running else 0
        return max(MIN_TRIAL_US, grace * 1_000_000)

    def service(self, now_us: int, *, update_notification_open: bool = False) -> OtaAction | None:
        """Advance timers between CPU slices and return the action the kernel must take.

        ``update_notification_open`` is whether the app has an UPDATE system
        notification, which (with the running bundle's politeness time) makes
        an update polite.
        """
        with self._lock:
            journal = self._journal
            if journal.trial is not None and self._running is not None:
                return self._service_trial(journal, now_us)
            update = journal.update
            if update is None or update.phase != "staged" or journal.trial is not None:
                return None
            politeness = self._running.manifest.maximum_politeness_time_sec if self._running else 0
            if politeness > 0 and update_notification_open and not self._notified:
                self._notified = True
                self._polite_deadline_us = now_us + politeness * 1_000_000
                journal = self._load()
                self._report(
                    journal,
                    UpdateReport(
                        update.deployment_id, UpdateStatus.UPDATE_DOWNLOADED, update.app_id
                    ),
                )
                self._save(journal, "polite")
                log.info(
                    "Offer polite update (deployment=%s, deadline_us=%d)",
                    update.deployment_id,
                    self._polite_deadline_us,
                )
                return OtaAction.NOTIFY_UPDATE_DOWNLOADED
            if self._notified and self._polite_deadline_us is not None:
                if now_us < self._polite_deadline_us:
                    return None
                log.info("Apply polite update at deadline (deployment=%s)", update.deployment_id)
            return OtaAction.RESTART_FOR_UPDATE

    def _service_trial(self, journal: Journal, now_us: int) -> OtaAction | None:
        trial = journal.trial
        assert trial is not None and self._running is not None
        if self._running.slot != trial.slot or self._trial_started_us is None:
            return None
        elapsed = now_us - self._trial_started_us
        confirm_after = self.trial_confirm_after_us()
        connected = self._checked_in or not self.cloud_configured
        if elapsed >= confirm_after and connected:
            self._confirm(self._load())
            return None
        if elapsed >= confirm_after + TRIAL_TIMEOUT_EXTRA_US:
            self._roll_back(
                self._load(),
                UpdateErrorCode.CONFIRM_TIMEOUT,
                f"no check-in within {elapsed} us",
            )
            self._running = None
            return OtaAction.RESTART_FOR_UPDATE
        return None

    def _confirm(self, journal: Journal) -> None:
        trial = journal.trial
        assert trial is not None
        journal.active = trial.slot
        journal.active_app_id = trial.app_id
        journal.trial = None
        self._report(
            journal, UpdateReport(trial.deployment_id, UpdateStatus.CONFIRMED, trial.app_id)
        )
        self._save(journal, "confirm")
        log.info("Confirm update (deployment=%s, app_id=%s)", trial.deployment_id, trial.app_id)
        self.resume()

    def restart_requested(self) -> bool:
        """Handle ``mvRestart(AUTOAPPLYUPDATE)``: return whether an update will apply."""
        with self._lock:
            update = self._journal.update
            return update is not None and update.phase == "staged" and self._journal.trial is None

    # ---- helpers for the install pipeline ---------------------------------------

    def verify_download(self) -> VerifiedBundle:
        """Verify the downloaded bundle against the trust store and kernel version."""
        return verify_bundle(
            read_bundle_file(self.download_path),
            trust=self.trust,
            allow_unsigned=self.allow_unsigned,
            kernel_version=self.kernel_version,
        )

    def install_local(self, bundle: bytes, *, force: bool = False) -> str:
        """Install a bundle as the confirmed app at once, without a trial; return its app id.

        For ``ov run`` and provisioning. The spare slot is written first and
        the journal switches to it in one write.
        """
        from openvisor.bundle import read_bundle

        verified = verify_bundle(
            read_bundle(bundle),
            trust=self.trust,
            allow_unsigned=self.allow_unsigned,
            kernel_version=self.kernel_version,
        )
        with self._lock:
            journal = self._load()
            if verified.app_id in journal.rejected and not force:
                raise UpdateError(
                    f"app {verified.app_id} was rolled back on this device; pass force to "
                    "install it again",
                )
            slot = journal.spare_slot()
            self.slots.write(slot, image=verified.image, manifest=verified.manifest.raw)
            if self.slots.read(slot) is None:
                raise UpdateError(f"slot {slot} in {self.root} did not read back; check the disk")
            journal = self._load()
            journal.active = slot
            journal.active_app_id = verified.app_id
            journal.trial = None
            self._save(journal, "install-local")
            log.info("Install app (slot=%s, app_id=%s)", slot, verified.app_id)
            return verified.app_id

    def clear_download(self) -> None:
        """Remove the partial or finished download."""
        shutil.rmtree(self.download_path.parent, ignore_errors=True)

    def problem_code(self, exc: BundleError) -> UpdateErrorCode:
        """Map a bundle error to the update error code the cloud shows."""
        return PROBLEM_CODES.get(exc.problem, UpdateErrorCode.INVALID_BUNDLE)
