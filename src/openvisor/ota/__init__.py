"""Over-the-air updates: A/B application slots, an update journal, trial boot and rollback.

See ``docs/ota.md`` for the phases and the guarantees after a power cut.
"""

from __future__ import annotations

from openvisor.ota.codes import UpdateErrorCode, UpdateReport, UpdateStatus
from openvisor.ota.engine import (
    MAX_TRIAL_BOOTS,
    MIN_TRIAL_US,
    BootSelection,
    DeployRequest,
    OtaAction,
    OtaManager,
)

__all__ = [
    "MAX_TRIAL_BOOTS",
    "MIN_TRIAL_US",
    "BootSelection",
    "DeployRequest",
    "OtaAction",
    "OtaManager",
    "UpdateErrorCode",
    "UpdateReport",
    "UpdateStatus",
]
