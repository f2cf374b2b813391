"""The phases of one deployment before it boots: download, verify, install into the spare slot.

Each phase ends with one journal write naming the next phase, so a killed
process resumes at the phase it was in: a download continues from the
partial file, verification and installation start that phase again.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import httpx

from openvisor.errors import BundleError, UpdateError
from openvisor.ota.codes import UpdateErrorCode, UpdateReport, UpdateStatus
from openvisor.ota.download import download
from openvisor.ota.journal import PendingUpdate

if TYPE_CHECKING:
    from openvisor.ota.engine import OtaManager

log = logging.getLogger(__name__)

# Problems that a damaged download can cause; the bundle is fetched again once.
_RETRY_PROBLEMS = frozenset({"hash-mismatch", "not-a-zip", "missing-manifest", "invalid-manifest"})
HTTP_TIMEOUT_S = 30.0


class UpdatePipeline:
    """Runs the journaled deployment of an :class:`OtaManager` up to the staged phase."""

    def __init__(self, manager: OtaManager) -> None:
        self.manager = manager

    def run(self) -> None:
        """Run phases until the update is staged, waiting, failed or gone."""
        manager = self.manager
        while True:
            with manager._lock:
                journal = manager._load()
                update = journal.update
                waiting_for_trial = journal.trial is not None
            if update is None or update.phase == "staged":
                return
            if update.phase == "download":
                self._download(update)
            elif update.phase == "verify":
                self._verify(update)
            elif update.phase == "install":
                if waiting_for_trial:
                    log.info(
                        "Defer install until the trial ends (deployment=%s)", update.deployment_id
                    )
                    return
                self._install(update)
            else:
                self._fail(update, UpdateErrorCode.INSTALL_FAILED, f"unknown phase {update.phase}")

    def _still_current(self, update: PendingUpdate) -> bool:
        current = self.manager._load().update
        return current is not None and current.deployment_id == update.deployment_id

    def _advance(self, update: PendingUpdate, phase: str) -> None:
        manager = self.manager
        with manager._lock:
            journal = manager._load()
            if journal.update is None or journal.update.deployment_id != update.deployment_id:
                return
            journal.update.phase = phase
            journal.update.app_id = update.app_id or journal.update.app_id
            journal.update.attempts = update.attempts
            manager._save(journal, phase)

    def _fail(self, update: PendingUpdate, code: UpdateErrorCode, message: str) -> None:
        manager = self.manager
        log.warning(
            "Fail update (deployment=%s, code=%s, message=%s)",
            update.deployment_id,
            code.name,
            message,
        )
        with manager._lock:
            journal = manager._load()
            if journal.update is not None and journal.update.deployment_id == update.deployment_id:
                journal.update = None
                manager._report(
                    journal,
                    UpdateReport(
                        update.deployment_id, UpdateStatus.FAILED, update.app_id, code, message
                    ),
                )
                manager._save(journal, "fail")
            manager.clear_download()

    def _download(self, update: PendingUpdate) -> None:
        manager = self.manager
        manager._step("download.start")
        client = manager._http or httpx.Client(timeout=HTTP_TIMEOUT_S)
        try:
            download(
                client,
                update.url,
                manager.download_path,
                on_chunk=lambda _n: manager._step("download.chunk"),
            )
        except UpdateError:
            manager._step("download.error")
            raise
        finally:
            if manager._http is None:
                client.close()
        self._advance(update, "verify")

    def _verify(self, update: PendingUpdate) -> None:
        manager = self.manager
        manager._step("verify.start")
        try:
            verified = manager.verify_download()
        except BundleError as exc:
            if exc.problem in _RETRY_PROBLEMS and update.attempts < 1:
                log.warning(
                    "Fetch bundle again after failed check (deployment=%s, problem=%s)",
                    update.deployment_id,
                    exc.problem,
                )
                manager.download_path.unlink(missing_ok=True)
                update.attempts += 1
                self._advance(update, "download")
                return
            self._fail(update, manager.problem_code(exc), str(exc))
            return
        manager._step("verify.checked")

        if update.app_id and update.app_id != verified.app_id:
            self._fail(
                update,
                UpdateErrorCode.APP_ID_MISMATCH,
                f"bundle holds app {verified.app_id}, deployment names {update.app_id}",
            )
            return
        with manager._lock:
            journal = manager._load()
            if journal.update is None or journal.update.deployment_id != update.deployment_id:
                return
            if manager._refuse(journal, update.deployment_id, verified.app_id, force=update.force):
                manager.clear_download()
                return
        update.app_id = verified.app_id
        self._advance(update, "install")

    def _install(self, update: PendingUpdate) -> None:
        manager = self.manager
        manager._step("install.start")
        try:
            verified = manager.verify_download()
        except BundleError as exc:
            # The download was verified before; failing now means it changed on disk.
            self._fail(update, manager.problem_code(exc), f"downloaded bundle changed: {exc}")
            return

        with manager._lock:
            journal = manager._load()
            if journal.update is None or journal.update.deployment_id != update.deployment_id:
                return
            slot = journal.spare_slot()
        try:
            manager.slots.write(slot, image=verified.image, manifest=verified.manifest.raw)
        except OSError as exc:
            self._fail(update, UpdateErrorCode.INSTALL_FAILED, f"writing slot {slot}: {exc}")
            return
        manager._step("install.readback")
        contents = manager.slots.read(slot)
        if contents is None or contents.app_id != verified.app_id:
            self._fail(update, UpdateErrorCode.INSTALL_FAILED, f"slot {slot} did not read back")
            return

        with manager._lock:
            journal = manager._load()
            if journal.update is None or journal.update.deployment_id != update.deployment_id:
                return
            journal.update.phase = "staged"
            journal.update.slot = slot
            journal.update.app_id = verified.app_id
            manager._report(
                journal, UpdateReport(update.deployment_id, UpdateStatus.INSTALLED, verified.app_id)
            )
            manager._save(journal, "staged")
        manager.clear_download()
        log.info(
            "Stage update (deployment=%s, slot=%s, app_id=%s)",
            update.deployment_id,
            slot,
            verified.app_id,
        )
