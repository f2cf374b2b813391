"""Application logs sent by devices: storage, pages and the feed of live streams."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openvisor.cloud.models import LogEntry, utcnow
from openvisor.cloud.service.common import PageRequest, PageResult, paginate
from openvisor.cloud.service.devices import get_device, get_device_by_sid, touch_device
from openvisor.cloud.service.sqlutil import insert_ignoring_duplicates

log = logging.getLogger(__name__)

MAX_MESSAGE_LENGTH = 4096
MIN_SEQ = -(2**63)
MAX_SEQ = 2**63 - 1
"""Range of the signed 64-bit ``seq`` column. Lines outside it are dropped."""
EARLIEST_LOG_TIME = datetime(2000, 1, 1)
"""Device times before this are treated as a wrong clock (naive UTC)."""
MAX_CLOCK_AHEAD = timedelta(days=1)
"""Device times further than this past the cloud's receive time are treated as a wrong clock."""


@dataclass(frozen=True)
class LogRecord:
    """One log line from a device; ``seq`` makes redelivered QoS 1 messages harmless."""

    message: str
    seq: int | None = None
    date_logged: datetime | None = None


def device_log_time(
    received: datetime, *, unix_micros: int | None, age_us: int | None
) -> datetime | None:
    """Return when a device logged a line, as naive UTC, or None when no time is usable.

    ``unix_micros`` is the device's wall time at logging. Without it, ``age_us``
    (the line's age when the device sent it) dates the line back from the naive
    UTC ``received`` time, which ignores the transit time. A time outside
    :data:`EARLIEST_LOG_TIME` to ``received`` + :data:`MAX_CLOCK_AHEAD` is not used.
    """
    logged: datetime | None = None
    try:
        if unix_micros is not None:
            logged = datetime(1970, 1, 1) + timedelta(microseconds=unix_micros)
        elif age_us is not None and age_us >= 0:
            # NOTE: the transit time (and any wait in the device's outbox) is not known.
            logged = received - timedelta(microseconds=age_us)
    except OverflowError:
        return None
    if logged is None or not EARLIEST_LOG_TIME <= logged <= received + MAX_CLOCK_AHEAD:
        return None
    return logged


def append_logs(
    session: Session,
    device_sid: str,
    records: list[LogRecord],
    *,
    received: datetime | None = None,
) -> int:
    """Store log lines of a device, skipping sequence numbers already stored.

    ``received`` (naive UTC, default now) is the receive time, and the logging
    time of records without ``date_logged``.
    """
    device = get_device_by_sid(session, device_sid)
    now = received or utcnow()
    rows = []
    for record in records:
        if record.seq is not None and not MIN_SEQ <= record.seq <= MAX_SEQ:
            # A value outside the BIGINT column would fail the whole batch on every redelivery.
            log.warning(
                "Drop log with out-of-range sequence number (device_sid=%s, seq=%d)",
                device_sid,
                record.seq,
            )
            continue
        rows.append(
            {
                "account_sid": device.account_sid,
                "device_sid": device_sid,
                "seq": record.seq,
                # PostgreSQL text columns reject NUL characters, which apps may log.
                "message": record.message[:MAX_MESSAGE_LENGTH].replace("\x00", "\ufffd"),
                "date_logged": _naive_utc(record.date_logged) if record.date_logged else now,
                "date_received": now,
            }
        )
    stored = insert_ignoring_duplicates(session, LogEntry.__table__, rows)
    touch_device(session, device_sid)
    session.flush()
    log.debug("Stored logs (device_sid=%s, stored=%d, sent=%d)", device_sid, stored, len(rows))
    return stored


def _naive_utc(value: datetime) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None)


def list_logs(
    session: Session,
    account_sid: str,
    device_ident: str,
    paging: PageRequest,
    *,
    after_id: int | None = None,
) -> PageResult[LogEntry]:
    """List a device's logs, oldest first, optionally only those after a log id."""
    device = get_device(session, account_sid, device_ident)
    stmt = select(LogEntry).where(LogEntry.device_sid == device.sid)
    if after_id is not None:
        stmt = stmt.where(LogEntry.id > after_id)
    return paginate(session, stmt.order_by(LogEntry.id), paging)


def logs_after(
    session: Session, device_sid: str, after_id: int, *, limit: int = 500
) -> list[LogEntry]:
    """Return up to ``limit`` logs of a device with an id above ``after_id``."""
    stmt = (
        select(LogEntry)
        .where(LogEntry.device_sid == device_sid, LogEntry.id > after_id)
        .order_by(LogEntry.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def latest_log_id(session: Session, device_sid: str) -> int:
    """Return the id of a device's newest log, or 0 when it has none."""
    value = session.scalar(select(func.max(LogEntry.id)).where(LogEntry.device_sid == device_sid))
    return int(value or 0)
