"""Update outcome codes and the reports the device sends about each deployment."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any


class UpdateErrorCode(IntEnum):
    """Reason code of a failed or rolled-back update, shown by the cloud as ``update_error_code``."""

    NONE = 0
    DOWNLOAD_FAILED = 1  # HTTP error, invalid range response or bundle too large
    INVALID_BUNDLE = 2  # not a zip, bad manifest, bad layers or regions, zip bomb
    SIGNATURE_REJECTED = 3  # unsigned, unknown signer, bad signature or key type
    HASH_MISMATCH = 4  # a fetch or measurement hash does not match
    KERNEL_TOO_OLD = 5  # the bundle's minimum_kernel_version is above this kernel's
    PREVIOUSLY_ROLLED_BACK = 6  # this app was rolled back before; deploy with force
    INSTALL_FAILED = 7  # the spare slot could not be written or read back
    APP_CRASHED = 8  # the new app crashed during its trial boot
    CONFIRM_TIMEOUT = 9  # the new app did not check in before the trial deadline
    TRIAL_BOOT_LIMIT = 10  # the device restarted too often during the trial
    SLOT_CORRUPT = 11  # the trial slot failed its measurement check at boot
    APP_ID_MISMATCH = 12  # the bundle is not the app the deployment names


class UpdateStatus(StrEnum):
    """Stage or outcome of one deployment on the device."""

    DOWNLOADING = "downloading"
    INSTALLED = "installed"  # verified and written to the spare slot
    UPDATE_DOWNLOADED = "update-downloaded"  # staged, waiting for a polite restart
    TRIAL = "trial"  # the new app boots on trial
    CONFIRMED = "confirmed"
    ROLLED_BACK = "rolled-back"
    FAILED = "failed"
    REFUSED = "refused"
    UP_TO_DATE = "up-to-date"


@dataclass(frozen=True)
class UpdateReport:
    """One update event for the cloud (sent as a link ``Report`` of kind ``"update"``)."""

    deployment_id: str
    status: UpdateStatus
    app_id: str = ""
    error_code: UpdateErrorCode = UpdateErrorCode.NONE
    message: str = ""

    def to_body(self) -> dict[str, Any]:
        """Return the CBOR-ready map sent as the report body."""
        return {
            "deployment_sid": self.deployment_id,
            "status": self.status.value,
            "app_id": self.app_id,
            "error_code": int(self.error_code),
            "reason": self.error_code.name.lower(),
            "message": self.message,
        }

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> UpdateReport:
        """Rebuild a report from :meth:`to_body` output."""
        return cls(
            deployment_id=str(body.get("deployment_sid", "")),
            status=UpdateStatus(body["status"]),
            app_id=str(body.get("app_id", "")),
            error_code=UpdateErrorCode(int(body.get("error_code", 0))),
            message=str(body.get("message", "")),
        )


# Bundle problems (openvisor.bundle.verify.Problem values) mapped to update codes.
PROBLEM_CODES: dict[str, UpdateErrorCode] = {
    "hash-mismatch": UpdateErrorCode.HASH_MISMATCH,
    "unsigned": UpdateErrorCode.SIGNATURE_REJECTED,
    "unknown-signer": UpdateErrorCode.SIGNATURE_REJECTED,
    "bad-signature": UpdateErrorCode.SIGNATURE_REJECTED,
    "unsupported-key-type": UpdateErrorCode.SIGNATURE_REJECTED,
    "kernel-too-old": UpdateErrorCode.KERNEL_TOO_OLD,
    "bundle-too-large": UpdateErrorCode.DOWNLOAD_FAILED,
}
