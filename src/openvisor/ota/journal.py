"""The update journal: one small JSON file naming the app to boot and the update in progress.

Every change is one :func:`openvisor.atomicfile.write_json` call, so after a
power cut the journal contains either the state before or the state after a
step. The journal always names a confirmed slot (``active``) and, during a
trial, the slot on trial; the slot files it names are never written while
named.

| key | meaning |
|---|---|
| ``active`` | ``"a"``, ``"b"`` or null (no app installed): the confirmed app |
| ``active_app_id`` | the confirmed app's id, so a slot whose manifest changed on disk is caught |
| ``trial`` | null, or the slot on trial with its app id, deployment and boot count |
| ``update`` | null, or the deployment being downloaded, verified, installed or staged |
| ``rejected`` | app ids that were rolled back; deploying one again needs ``force`` |
| ``wake_reason`` | wake reason for the next boot (``APPLICATIONUPDATE``, ``APPLICATIONCRASH``) |
| ``reports`` | update reports not yet handed to the device link |
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from openvisor import atomicfile
from openvisor.errors import StateError

JOURNAL_VERSION = 1
SLOTS = ("a", "b")


@dataclass
class Trial:
    """A newly installed app that boots on trial until it is confirmed or rolled back."""

    slot: str
    app_id: str
    deployment_id: str
    boots: int = 0


@dataclass
class PendingUpdate:
    """A deployment in progress; ``phase`` is download, verify, install or staged."""

    deployment_id: str
    url: str
    phase: str = "download"
    app_id: str = ""  # expected app id from the deployment, or the verified one
    force: bool = False
    slot: str = ""  # the spare slot, set when installing starts
    attempts: int = 0  # full downloads started; a corrupt download is retried once


@dataclass
class Journal:
    """The decoded journal file."""

    active: str | None = None
    active_app_id: str = ""
    trial: Trial | None = None
    update: PendingUpdate | None = None
    rejected: list[str] = field(default_factory=list)
    wake_reason: str | None = None
    reports: list[dict[str, Any]] = field(default_factory=list)

    def spare_slot(self) -> str:
        """Return the slot that is neither confirmed nor on trial."""
        used = {self.active, self.trial.slot if self.trial else None}
        for slot in SLOTS:
            if slot not in used:
                return slot
        raise StateError("both slots are in use (confirmed app and trial); wait for the trial")

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form written to disk."""
        value = asdict(self)
        value["version"] = JOURNAL_VERSION
        return value

    @classmethod
    def from_json(cls, value: dict[str, Any], *, path: Path) -> Journal:
        """Decode the JSON form, raising StateError when it is malformed."""
        try:
            if value.get("version") != JOURNAL_VERSION:
                raise ValueError(f"version {value.get('version')!r}")
            trial = value.get("trial")
            update = value.get("update")
            journal = cls(
                active=value.get("active"),
                active_app_id=str(value.get("active_app_id") or ""),
                trial=Trial(**trial) if trial else None,
                update=PendingUpdate(**update) if update else None,
                rejected=list(value.get("rejected", [])),
                wake_reason=value.get("wake_reason"),
                reports=list(value.get("reports", [])),
            )
        except (TypeError, ValueError, AttributeError) as exc:
            raise StateError(
                f"update journal {path} is malformed ({exc}); remove the ota folder to reset "
                "the device's apps"
            ) from exc
        for slot in (journal.active, journal.trial.slot if journal.trial else None):
            if slot is not None and slot not in SLOTS:
                raise StateError(f"update journal {path} names unknown slot {slot!r}")
        return journal


def load_journal(path: Path) -> Journal:
    """Read the journal; a missing file is an empty journal (no app installed)."""
    value = atomicfile.read_json(path, default=None)
    if value is None:
        return Journal()
    if not isinstance(value, dict):
        raise StateError(f"update journal {path} is not a JSON object; remove it to reset")
    return Journal.from_json(value, path=path)


def save_journal(path: Path, journal: Journal) -> None:
    """Write the journal atomically."""
    atomicfile.write_json(path, journal.to_json())
