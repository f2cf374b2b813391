"""Outbox of messages for devices, delivered by the device-link consumer.

Service functions enqueue a command in the same transaction as the change
that caused it, so a command exists exactly when its change is committed,
whichever instance made it. Listeners registered with
:func:`add_listener` hear about new commands after the commit, so a
consumer in the same process can deliver them at once; consumers in other
processes find them with :func:`pending_commands`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from openvisor.cloud.models import DeviceCommand, utcnow

log = logging.getLogger(__name__)

# Command kinds.
TARGET_APP = "target_app"
RESTART_APP = "restart_app"
LOGGING = "logging"
CONFIG_CHANGED = "config_changed"

Listener = Callable[[str], None]
_listeners: list[Listener] = []


def add_listener(listener: Listener) -> None:
    """Call ``listener(device_sid)`` after each commit that enqueued a command."""
    _listeners.append(listener)


def remove_listener(listener: Listener) -> None:
    """Stop calling a listener added with :func:`add_listener`."""
    if listener in _listeners:
        _listeners.remove(listener)


def enqueue_command(
    session: Session, device_sid: str, kind: str, payload: dict[str, Any] | None = None
) -> DeviceCommand:
    """Queue a message for a device in the caller's transaction."""
    command = DeviceCommand(device_sid=device_sid, kind=kind, payload=json.dumps(payload or {}))
    session.add(command)
    session.info.setdefault("ov_notify_devices", set()).add(device_sid)
    return command


def pending_commands(session: Session, device_sid: str) -> list[DeviceCommand]:
    """Return the undelivered commands of a device, oldest first."""
    stmt = (
        select(DeviceCommand)
        .where(DeviceCommand.device_sid == device_sid, DeviceCommand.date_delivered.is_(None))
        .order_by(DeviceCommand.id)
    )
    return list(session.scalars(stmt))


def mark_delivered(session: Session, command_ids: list[int]) -> None:
    """Record that the device link delivered these commands."""
    now = utcnow()
    for command in session.scalars(select(DeviceCommand).where(DeviceCommand.id.in_(command_ids))):
        command.date_delivered = now
    session.flush()


@event.listens_for(Session, "after_commit")
def _notify_listeners(session: Session) -> None:
    devices = session.info.pop("ov_notify_devices", None)
    if not devices:
        return
    for device_sid in sorted(devices):
        for listener in _listeners:
            try:
                listener(device_sid)
            except Exception:
                log.exception("Failed to notify command listener (device_sid=%s)", device_sid)


@event.listens_for(Session, "after_rollback")
def _drop_notifications(session: Session) -> None:
    session.info.pop("ov_notify_devices", None)
