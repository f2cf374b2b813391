"""Deployments of an update: accept, reject, cancel and resume the download and install."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, cast

from openvisor.errors import StateError, UpdateError
from openvisor.ota.codes import UpdateErrorCode, UpdateReport, UpdateStatus
from openvisor.ota.journal import Journal, PendingUpdate

if TYPE_CHECKING:
    from openvisor.ota.engine import DeployRequest, OtaManager
    from openvisor.ota.slots import SlotStore

log = logging.getLogger(__name__)


class Deployments:
    """The deployment half of `OtaManager`, which inherits it."""

    if TYPE_CHECKING:
        background: bool
        download_path: Path
        slots: SlotStore
        _journal: Journal
        _lock: threading.RLock
        _worker: threading.Thread | None

        def _load(self) -> Journal: ...

        def _save(self, journal: Journal, step: str) -> None: ...

        def _report(self, journal: Journal, report: UpdateReport) -> None: ...

    def deploy(self, request: DeployRequest) -> None:
        """Accept a deployment and start (or resume) its download."""
        with self._lock:
            journal = self._load()
            if self._refuse(journal, request.deployment_id, request.app_id, force=request.force):
                return
            current = journal.update
            if current is None or current.url != request.url:
                self.download_path.unlink(missing_ok=True)
                journal.update = PendingUpdate(
                    deployment_id=request.deployment_id,
                    url=request.url,
                    app_id=request.app_id,
                    force=request.force,
                )
                self._report(
                    journal,
                    UpdateReport(request.deployment_id, UpdateStatus.DOWNLOADING, request.app_id),
                )
                self._save(journal, "deploy")
            elif current.deployment_id != request.deployment_id:
                # A newer deployment of the same bundle takes over the download in
                # progress, so its reports reach the cloud.
                log.info(
                    "Adopt update in progress (deployment=%s, previous=%s, phase=%s)",
                    request.deployment_id,
                    current.deployment_id,
                    current.phase,
                )
                current.deployment_id = request.deployment_id
                current.force = request.force
                if current.phase in ("download", "verify"):
                    # Later phases hold the app id of the verified bundle.
                    current.app_id = request.app_id or current.app_id
                self._report(
                    journal,
                    UpdateReport(request.deployment_id, UpdateStatus.DOWNLOADING, request.app_id),
                )
                self._save(journal, "deploy")
        self.resume()

    def cancel(self, deployment_id: str) -> bool:
        """Drop a deployment that is not yet staged, and return whether one was dropped."""
        with self._lock:
            journal = self._load()
            update = journal.update
            if update is None or update.deployment_id != deployment_id:
                return False
            if update.phase in ("install", "staged"):
                return False
            journal.update = None
            self._save(journal, "cancel")
            self.download_path.unlink(missing_ok=True)
            return True

    def _refuse(self, journal: Journal, deployment_id: str, app_id: str, *, force: bool) -> bool:
        """Report and return True when a deployment must not proceed."""
        if not app_id:
            return False
        if journal.trial is not None and app_id == journal.trial.app_id:
            log.info("Ignore deployment of the app on trial (deployment=%s)", deployment_id)
            return True
        if app_id in journal.rejected and not force:
            self._report(
                journal,
                UpdateReport(
                    deployment_id,
                    UpdateStatus.REFUSED,
                    app_id,
                    UpdateErrorCode.PREVIOUSLY_ROLLED_BACK,
                    "this app was rolled back on this device; deploy it with force to retry",
                ),
            )
            journal.update = None
            self._save(journal, "refuse")
            return True
        running = self.slots.app_id(journal.active) if journal.active else None
        if app_id == running and journal.trial is None:
            self._report(journal, UpdateReport(deployment_id, UpdateStatus.UP_TO_DATE, app_id))
            journal.update = None
            self._save(journal, "refuse")
            return True
        return False

    def resume(self) -> None:
        """Continue a journaled deployment (after a restart too).

        It runs on a background thread, or on this thread when the manager was
        created with ``background=False``.
        """
        with self._lock:
            if self._journal.update is None or self._journal.update.phase == "staged":
                return
            if not self.background:
                self._run_update_logged()
                return
            if self._worker is not None and self._worker.is_alive():
                return
            self._worker = threading.Thread(
                target=self._run_update_logged, name="ota-update", daemon=True
            )
            self._worker.start()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the background update thread to finish."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)

    def _run_update_logged(self) -> None:
        try:
            self.run_update()
        except (UpdateError, StateError) as exc:
            # A damaged trust store is a StateError too, so the update waits for it to be fixed.
            log.warning("Pause update (error=%s)", exc)
        except Exception:
            log.exception("Update thread failed")

    def run_update(self) -> None:
        """Run the journaled deployment's remaining phases up to staged, on this thread."""
        from openvisor.ota.install import UpdatePipeline

        UpdatePipeline(cast("OtaManager", self)).run()
