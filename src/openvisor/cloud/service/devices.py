"""Devices: provisioning, lookup, update, presence and tags."""

from __future__ import annotations

import base64
import binascii
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from openvisor.cloud import sids
from openvisor.cloud.models import App, Device, DeviceRecord, DeviceTag, utcnow
from openvisor.cloud.security import hash_token, new_token
from openvisor.cloud.service import commands
from openvisor.cloud.service.common import (
    PageRequest,
    PageResult,
    conflict,
    invalid,
    not_found,
    paginate,
)

log = logging.getLogger(__name__)

# Resources that an account addresses by SID or by unique name.
NamedT = TypeVar("NamedT", App, Device)
RecordT = TypeVar("RecordT", bound=DeviceRecord)

# LoggingEnabled=True turns logging on, or extends it, for 24 hours.
LOGGING_PERIOD = timedelta(hours=24)

# Names end up unencoded in URL paths, where '/', '?' and '#' break the URL.
_NAME_RE = re.compile(r"^[^/?#\x00-\x1f]{1,200}$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


def check_unique_name(value: str) -> None:
    """Reject a unique name the API could not address or would mistake for a SID."""
    if not _NAME_RE.match(value):
        raise invalid(
            f"invalid UniqueName {value!r}: use 1 to 200 printable characters "
            "without '/', '?' or '#'"
        )
    if re.match(r"^[A-Z]{2}[0-9a-fA-F]{32}$", value):
        raise invalid(f"invalid UniqueName {value!r}: a unique name must not look like a SID")


def parse_public_key(value: str) -> bytes:
    """Parse a P-256 public key (PEM, or base64/hex of the 65-byte point) to the point."""
    text = value.strip()
    key: object
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            raw = bytes.fromhex(text) if len(text) == 130 else base64.b64decode(text, validate=True)
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except (ValueError, binascii.Error, TypeError) as exc:
        raise invalid(
            "invalid PublicKey: send a NIST P-256 public key as PEM or as the base64 "
            f"of its 65-byte uncompressed point ({exc})"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise invalid("invalid PublicKey: the key is not on the NIST P-256 curve")
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


@dataclass
class Registration:
    """A provisioned device plus the link secret it authenticates with (shown once)."""

    device: Device
    link_secret: str


def provision_device(
    session: Session,
    account_sid: str,
    *,
    public_key: str,
    device_sid: str | None = None,
    unique_name: str | None = None,
) -> Registration:
    """Register a device and its public key; provisioning again rotates the link secret."""
    point = parse_public_key(public_key)
    if device_sid is not None and not sids.is_sid(device_sid, sids.DEVICE):
        raise invalid(f"invalid DeviceSid {device_sid!r}: use UV followed by 32 hex digits")
    device = session.get(Device, device_sid) if device_sid else None
    if device is not None and device.account_sid != account_sid:
        raise conflict(f"device {device_sid} belongs to another account: choose another id")
    if device is not None and device.public_key != point:
        raise conflict(
            f"device {device_sid} is registered with another public key: "
            "provision a new device id for a new key"
        )
    secret = new_token()
    if device is None:
        device = Device(
            sid=device_sid or sids.new_sid(sids.DEVICE),
            account_sid=account_sid,
            public_key=point,
            link_secret_hash="",
        )
        session.add(device)
    device.link_secret_hash = hash_token(secret)
    device.date_updated = utcnow()
    if unique_name:
        _set_unique_name(session, device, unique_name)
    session.flush()
    log.info("Provisioned device (account_sid=%s, device_sid=%s)", account_sid, device.sid)
    return Registration(device=device, link_secret=secret)


def get_device(session: Session, account_sid: str, ident: str) -> Device:
    """Fetch a device of the account by SID or unique name."""
    return _get_by_sid_or_name(session, Device, sids.DEVICE, account_sid, ident, "Device")


def _get_by_sid_or_name(
    session: Session,
    model: type[NamedT],
    prefix: str,
    account_sid: str,
    ident: str,
    label: str,
) -> NamedT:
    # A unique name never looks like a SID (check_unique_name), so a SID-shaped
    # identifier is looked up as a SID only.
    if sids.is_sid(ident, prefix):
        row = session.get(model, ident)
    else:
        row = session.scalar(
            select(model).where(model.account_sid == account_sid, model.unique_name == ident)
        )
    if row is None or row.account_sid != account_sid:
        raise not_found(label, ident)
    return row


def get_device_by_sid(session: Session, device_sid: str) -> Device:
    """Fetch a device by SID in any account (for the device link)."""
    device = session.get(Device, device_sid)
    if device is None:
        raise not_found("Device", device_sid)
    return device


def list_devices(
    session: Session, account_sid: str, paging: PageRequest, *, tag: str | None = None
) -> PageResult[Device]:
    """List the account's devices, oldest first, optionally those with a tag."""
    stmt = select(Device).where(Device.account_sid == account_sid)
    if tag is not None:
        stmt = stmt.where(
            Device.sid.in_(
                select(DeviceTag.device_sid).where(
                    DeviceTag.account_sid == account_sid, DeviceTag.tag == tag
                )
            )
        )
    return paginate(session, stmt.order_by(Device.date_created, Device.sid), paging)


def resolve_app(session: Session, account_sid: str, ident: str) -> App:
    """Fetch an app of the account by SID or unique name."""
    return _get_by_sid_or_name(session, App, sids.APP, account_sid, ident, "App")


def update_device(
    session: Session,
    account_sid: str,
    ident: str,
    *,
    unique_name: str | None = None,
    target_app: str | None = None,
    logging_enabled: bool | None = None,
    restart_app: bool | None = None,
) -> Device:
    """Apply a partial device update; ``None`` leaves a field unchanged."""
    device = get_device(session, account_sid, ident)
    now = utcnow()
    if unique_name is not None:
        _set_unique_name(session, device, unique_name)
    if target_app is not None:
        if target_app == "":
            set_target_app(session, device, None)
        else:
            set_target_app(session, device, resolve_app(session, account_sid, target_app))
    if logging_enabled is not None:
        device.logging_expires = now + LOGGING_PERIOD if logging_enabled else None
        commands.enqueue_command(
            session,
            device.sid,
            commands.LOGGING,
            {"enabled": logging_enabled, "expires": _iso(device.logging_expires)},
        )
    if restart_app:
        commands.enqueue_command(session, device.sid, commands.RESTART_APP)
    device.date_updated = now
    session.flush()
    return device


def set_target_app(session: Session, device: Device, app: App | None) -> None:
    """Target an app (or none) on a device and queue the change for it."""
    now = utcnow()
    device.target_app_sid = app.sid if app else None
    device.date_targeted = now
    if app is None or app.sid == device.reported_app_sid:
        device.update_status = "up-to-date"
    else:
        device.update_status = "pending"
    device.update_error_code = 0
    device.date_updated = now
    commands.enqueue_command(
        session,
        device.sid,
        commands.TARGET_APP,
        {"app_sid": device.target_app_sid, "hash": app.hash if app else None},
    )
    log.info("Targeted app (device_sid=%s, app_sid=%s)", device.sid, device.target_app_sid)


def _set_unique_name(session: Session, device: Device, unique_name: str) -> None:
    if unique_name == "":
        device.unique_name = None
        return
    check_unique_name(unique_name)
    clash = session.scalar(
        select(Device.sid).where(
            Device.account_sid == device.account_sid,
            Device.unique_name == unique_name,
            Device.sid != device.sid,
        )
    )
    if clash is not None:
        raise conflict(f"UniqueName {unique_name!r} is already used by device {clash}")
    device.unique_name = unique_name


def logging_enabled(device: Device, now: datetime | None = None) -> bool:
    """Tell whether the device's logging period is running."""
    return device.logging_expires is not None and device.logging_expires > (now or utcnow())


def set_presence(session: Session, device_sid: str, *, online: bool) -> Device:
    """Record a device connecting or going offline (from the link or its will)."""
    device = get_device_by_sid(session, device_sid)
    device.online = online
    device.date_last_seen = utcnow()
    session.flush()
    log.info("Set presence (device_sid=%s, online=%s)", device_sid, online)
    return device


def touch_device(session: Session, device_sid: str) -> None:
    """Record that a device was heard from now."""
    device = get_device_by_sid(session, device_sid)
    device.date_last_seen = utcnow()
    device.online = True


def report_running_app(session: Session, device_sid: str, app_sid: str | None) -> Device:
    """Record the app a device reports running and settle its update status."""
    device = get_device_by_sid(session, device_sid)
    device.reported_app_sid = app_sid
    device.date_reported = utcnow()
    if device.target_app_sid is not None and device.target_app_sid == app_sid:
        device.update_status = "up-to-date"
        device.update_error_code = 0
    session.flush()
    return device


def list_device_records(
    session: Session,
    model: type[RecordT],
    account_sid: str,
    device_ident: str,
    paging: PageRequest,
) -> PageResult[RecordT]:
    """List a device's crash reports, update outcomes or debug sessions, newest first."""
    device = get_device(session, account_sid, device_ident)
    stmt = (
        select(model)
        .where(model.device_sid == device.sid)
        .order_by(model.date_created.desc(), model.sid)
    )
    return paginate(session, stmt, paging)


def get_device_record(
    session: Session,
    model: type[RecordT],
    account_sid: str,
    device_ident: str,
    record_sid: str,
    label: str,
) -> RecordT:
    """Fetch one record of ``model`` that belongs to a device of the account."""
    device = get_device(session, account_sid, device_ident)
    record = session.get(model, record_sid)
    if record is None or record.device_sid != device.sid:
        raise not_found(label, record_sid)
    return record


def list_tags(session: Session, account_sid: str, device_ident: str) -> list[str]:
    """Return a device's tags in alphabetical order."""
    device = get_device(session, account_sid, device_ident)
    stmt = select(DeviceTag.tag).where(DeviceTag.device_sid == device.sid).order_by(DeviceTag.tag)
    return list(session.scalars(stmt))


def add_tag(session: Session, account_sid: str, device_ident: str, tag: str) -> Device:
    """Tag a device; adding a tag it already has changes nothing."""
    if not _TAG_RE.match(tag):
        raise invalid(f"invalid Tag {tag!r}: use 1 to 100 letters, digits, '_', '.', ':' or '-'")
    device = get_device(session, account_sid, device_ident)
    if session.get(DeviceTag, (device.sid, tag)) is None:
        session.add(DeviceTag(device_sid=device.sid, tag=tag, account_sid=account_sid))
        session.flush()
    return device


def remove_tag(session: Session, account_sid: str, device_ident: str, tag: str) -> None:
    """Remove a tag from a device."""
    device = get_device(session, account_sid, device_ident)
    result = session.execute(
        delete(DeviceTag).where(DeviceTag.device_sid == device.sid, DeviceTag.tag == tag)
    )
    if not getattr(result, "rowcount", 0):
        raise not_found("Tag", tag)


def _iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None
