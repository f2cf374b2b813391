"""Rebuilding a damaged update journal from the slots on disk.

The journal is written atomically, so a power cut never damages it; a disk
fault or an edit by hand can. The device must still boot a valid app, so
a journal that cannot be read is moved aside (``journal.json.damaged``) and
a new one is built from the slots that pass their measurement check:

| valid slots | new journal |
|---|---|
| none | no app installed |
| one | that slot is the confirmed app |
| both | the slot written first is the confirmed app, the other boots on trial |

Booting the newer slot on trial keeps the common case (it was confirmed)
and still rolls back to the older app if the newer one crashes. The list
of rolled-back apps and any update in progress are lost; the cloud offers
the update again.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from openvisor.errors import StateError
from openvisor.ota.journal import SLOTS, Journal, Trial, load_journal, save_journal
from openvisor.ota.slots import MANIFEST_FILE, SlotStore

log = logging.getLogger(__name__)

DAMAGED_SUFFIX = ".damaged"


def load_or_repair_journal(path: Path, slots: SlotStore) -> tuple[Journal, str | None]:
    """Load the journal, rebuilding it from the slots when it is unreadable.

    Returns the journal and, after a repair, a sentence saying what was repaired.
    """
    try:
        return load_journal(path), None
    except StateError as exc:
        damage = str(exc)

    valid = [slot for slot in SLOTS if slots.read(slot) is not None]
    valid.sort(key=lambda slot: (slots.slot_dir(slot) / MANIFEST_FILE).stat().st_mtime_ns)
    journal = Journal()
    if valid:
        journal.active = valid[0]
        journal.active_app_id = slots.app_id(valid[0]) or ""
    if len(valid) == 2:
        newer = valid[1]
        journal.trial = Trial(slot=newer, app_id=slots.app_id(newer) or "", deployment_id="")

    os.replace(path, path.with_name(path.name + DAMAGED_SUFFIX))
    save_journal(path, journal)
    if journal.trial is not None:
        outcome = (
            f"slot {journal.active} is the confirmed app and slot {journal.trial.slot} boots "
            "on trial"
        )
    elif journal.active is not None:
        outcome = f"slot {journal.active} is the confirmed app"
    else:
        outcome = "no slot holds a valid app, so none is installed"
    summary = (
        f"rebuilt the update journal from the slots: {outcome}; the damaged file is kept as "
        f"{path.name}{DAMAGED_SUFFIX} ({damage})"
    )
    log.warning("Repair update journal (path=%s, valid_slots=%s): %s", path, valid, summary)
    return journal, summary
