"""SQL models of the cloud service (SQLAlchemy 2, declarative with type hints).

Times are naive UTC ``DateTime`` values, so SQLite and PostgreSQL store
them alike; microseconds are kept so that lists sort in creation order.
Every tenant row carries ``account_sid``, and every query in the service
layer filters on it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SID = String(34)


def utcnow() -> datetime:
    """Return the current UTC time, naive; the API shows it to the second."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    """Declarative base of every openvisor cloud table."""


class Account(Base):
    __tablename__ = "accounts"

    sid: Mapped[str] = mapped_column(SID, primary_key=True)
    friendly_name: Mapped[str] = mapped_column(String(200), default="")
    auth_token_hash: Mapped[str] = mapped_column(String(120))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    date_created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"

    sid: Mapped[str] = mapped_column(SID, primary_key=True)
    account_sid: Mapped[str] = mapped_column(ForeignKey("accounts.sid"), index=True)
    friendly_name: Mapped[str] = mapped_column(String(200), default="")
    secret_hash: Mapped[str] = mapped_column(String(120))
    date_created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Device(Base):
    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("account_sid", "unique_name"),)

    sid: Mapped[str] = mapped_column(SID, primary_key=True)
    account_sid: Mapped[str] = mapped_column(ForeignKey("accounts.sid"), index=True)
    unique_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    link_secret_hash: Mapped[str] = mapped_column(String(120))
    target_app_sid: Mapped[str | None] = mapped_column(SID, nullable=True)
    date_targeted: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    update_status: Mapped[str] = mapped_column(String(20), default="up-to-date")
    update_error_code: Mapped[int] = mapped_column(Integer, default=0)
    reported_app_sid: Mapped[str | None] = mapped_column(SID, nullable=True)
    date_reported: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    logging_expires: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    date_last_seen: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    date_created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    date_updated: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class DeviceTag(Base):
    __tablename__ = "device_tags"

    device_sid: Mapped[str] = mapped_column(ForeignKey("devices.sid"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)
    account_sid: Mapped[str] = mapped_column(SID, index=True)


class ConfigEntry(Base):
    """A config or secret at account scope (owner ``AC…``) or device scope (``UV…``)."""

    __tablename__ = "config_entries"

    owner_sid: Mapped[str] = mapped_column(SID, primary_key=True)
    store: Mapped[str] = mapped_column(String(10), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    account_sid: Mapped[str] = mapped_column(SID, index=True)
    value: Mapped[str] = mapped_column(Text)
    date_updated: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class App(Base):
    __tablename__ = "apps"
    __table_args__ = (UniqueConstraint("account_sid", "unique_name"),)

    sid: Mapped[str] = mapped_column(SID, primary_key=True)
    account_sid: Mapped[str] = mapped_column(ForeignKey("accounts.sid"), index=True)
    unique_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    hash: Mapped[str] = mapped_column(String(80))
    manifest: Mapped[bytes] = mapped_column(LargeBinary)
    date_created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    date_updated: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AppLayer(Base):
    __tablename__ = "app_layers"

    app_sid: Mapped[str] = mapped_column(ForeignKey("apps.sid"), primary_key=True)
    fetch_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Deployment(Base):
    __tablename__ = "deployments"

    sid: Mapped[str] = mapped_column(SID, primary_key=True)
    account_sid: Mapped[str] = mapped_column(ForeignKey("accounts.sid"), index=True)
    app_sid: Mapped[str] = mapped_column(ForeignKey("apps.sid"))
    target_type: Mapped[str] = mapped_column(String(10))
    target: Mapped[str | None] = mapped_column(String(200), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="active")
    date_created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    date_updated: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class DeploymentDevice(Base):
    __tablename__ = "deployment_devices"

    deployment_sid: Mapped[str] = mapped_column(ForeignKey("deployments.sid"), primary_key=True)
    device_sid: Mapped[str] = mapped_column(ForeignKey("devices.sid"), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    error_code: Mapped[int] = mapped_column(Integer, default=0)
    date_updated: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class LogEntry(Base):
    __tablename__ = "log_entries"
    __table_args__ = (
        UniqueConstraint("device_sid", "seq"),
        Index("ix_log_entries_device_id", "device_sid", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    account_sid: Mapped[str] = mapped_column(SID, index=True)
    device_sid: Mapped[str] = mapped_column(ForeignKey("devices.sid"))
    seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    message: Mapped[str] = mapped_column(Text)
    date_logged: Mapped[datetime] = mapped_column(DateTime)
    date_received: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class DeviceRecord:
    """Columns of a record about one device: its SID, account, device and creation time.

    Crash reports, update outcomes and debug sessions list newest first by
    ``date_created`` and are addressed under their device.
    """

    sid: Mapped[str] = mapped_column(SID, primary_key=True)
    account_sid: Mapped[str] = mapped_column(SID, index=True)
    device_sid: Mapped[str] = mapped_column(ForeignKey("devices.sid"), index=True)
    date_created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class CrashReport(DeviceRecord, Base):
    __tablename__ = "crash_reports"

    app_sid: Mapped[str | None] = mapped_column(SID, nullable=True)
    report: Mapped[str] = mapped_column(Text)


class UpdateOutcome(DeviceRecord, Base):
    __tablename__ = "update_outcomes"

    app_sid: Mapped[str | None] = mapped_column(SID, nullable=True)
    deployment_sid: Mapped[str | None] = mapped_column(SID, nullable=True)
    outcome: Mapped[str] = mapped_column(String(20))
    error_code: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str] = mapped_column(Text, default="")


class DebugSession(DeviceRecord, Base):
    __tablename__ = "debug_sessions"

    status: Mapped[str] = mapped_column(String(10), default="open")
    client_public_key: Mapped[str] = mapped_column(Text, default="")
    date_ended: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class DeviceCommand(Base):
    """Outbox of messages for a device; the device-link consumer delivers them."""

    __tablename__ = "device_commands"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    device_sid: Mapped[str] = mapped_column(ForeignKey("devices.sid"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    payload: Mapped[str] = mapped_column(Text, default="{}")
    date_created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    date_delivered: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class RateCounter(Base):
    """Fixed-window request counter, shared by every instance through SQL."""

    __tablename__ = "rate_counters"

    subject: Mapped[str] = mapped_column(String(60), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class SigningKey(Base):
    """The cloud's bundle-signing key (one row, ``id`` 1)."""

    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    private_key_pem: Mapped[str] = mapped_column(Text)
    date_created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
