"""Crash reports and debug-session records of devices."""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy.orm import Session

from openvisor.cloud import sids
from openvisor.cloud.models import CrashReport, DebugSession, utcnow
from openvisor.cloud.service.common import (
    PageRequest,
    PageResult,
    conflict,
    invalid,
    not_found,
)
from openvisor.cloud.service.devices import (
    get_device,
    get_device_by_sid,
    get_device_record,
    list_device_records,
    parse_public_key,
)
from openvisor.errors import CloudError

log = logging.getLogger(__name__)


def record_crash(
    session: Session, device_sid: str, report: dict[str, Any], *, app_sid: str | None = None
) -> CrashReport:
    """Store a crash report a device sent (fault kind, registers, stack and so on)."""
    device = get_device_by_sid(session, device_sid)
    record = CrashReport(
        sid=sids.new_sid(sids.CRASH_REPORT),
        account_sid=device.account_sid,
        device_sid=device_sid,
        app_sid=app_sid,
        report=json.dumps(report, sort_keys=True, default=str),
    )
    session.add(record)
    session.flush()
    log.info("Recorded crash report (device_sid=%s, crash_sid=%s)", device_sid, record.sid)
    return record


def list_crashes(
    session: Session, account_sid: str, device_ident: str, paging: PageRequest
) -> PageResult[CrashReport]:
    """List a device's crash reports, newest first."""
    return list_device_records(session, CrashReport, account_sid, device_ident, paging)


def get_crash(session: Session, account_sid: str, device_ident: str, crash_sid: str) -> CrashReport:
    """Fetch one crash report of a device."""
    return get_device_record(
        session, CrashReport, account_sid, device_ident, crash_sid, "Crash report"
    )


def open_debug_session(
    session: Session, account_sid: str, device_ident: str, *, client_public_key: str = ""
) -> DebugSession:
    """Record a new debug session; the relay carries its traffic."""
    device = get_device(session, account_sid, device_ident)
    try:
        point = parse_public_key(client_public_key) if client_public_key else b""
    except CloudError as exc:
        raise invalid(
            "invalid ClientPublicKey: send a NIST P-256 public key as PEM or as the base64 of "
            "its 65-byte uncompressed point, or leave it out"
        ) from exc
    record = DebugSession(
        sid=sids.new_sid(sids.DEBUG_SESSION),
        account_sid=account_sid,
        device_sid=device.sid,
        client_public_key=point.hex(),
    )
    session.add(record)
    session.flush()
    log.info("Opened debug session (device_sid=%s, session_sid=%s)", device.sid, record.sid)
    return record


def list_debug_sessions(
    session: Session, account_sid: str, device_ident: str, paging: PageRequest
) -> PageResult[DebugSession]:
    """List a device's debug sessions, newest first."""
    return list_device_records(session, DebugSession, account_sid, device_ident, paging)


def get_debug_session(
    session: Session, account_sid: str, device_ident: str, session_sid: str
) -> DebugSession:
    """Fetch one debug session of a device."""
    return get_device_record(
        session, DebugSession, account_sid, device_ident, session_sid, "Debug session"
    )


def find_debug_session(session: Session, session_sid: str) -> DebugSession:
    """Fetch a debug session by SID in any account (for the relay)."""
    record = session.get(DebugSession, session_sid)
    if record is None:
        raise not_found("Debug session", session_sid)
    return record


def set_debug_session_active(session: Session, session_sid: str) -> DebugSession:
    """Mark a debug session active once the relay joined both ends."""
    record = find_debug_session(session, session_sid)
    if record.status == "closed":
        raise conflict(f"debug session {session_sid} is closed: open a new one")
    record.status = "active"
    session.flush()
    return record


def close_debug_session(session: Session, session_sid: str) -> DebugSession:
    """Mark a debug session closed; closing twice changes nothing."""
    record = find_debug_session(session, session_sid)
    if record.status != "closed":
        record.status = "closed"
        record.date_ended = utcnow()
        session.flush()
        log.info("Closed debug session (session_sid=%s)", session_sid)
    return record
