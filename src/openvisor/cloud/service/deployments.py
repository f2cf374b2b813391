"""Deployments of an app to one device, a tag or the whole fleet, with per-device status."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from openvisor.cloud import sids
from openvisor.cloud.models import (
    App,
    Deployment,
    DeploymentDevice,
    Device,
    DeviceTag,
    UpdateOutcome,
    utcnow,
)
from openvisor.cloud.service.common import (
    PageRequest,
    PageResult,
    conflict,
    invalid,
    not_found,
    paginate,
)
from openvisor.cloud.service.devices import (
    get_device,
    get_device_by_sid,
    list_device_records,
    resolve_app,
    set_target_app,
)

log = logging.getLogger(__name__)

TARGET_TYPES = ("device", "tag", "fleet")
# Statuses a device moves through; the last five are final.
DEVICE_STATUSES = (
    "pending",
    "downloading",
    "installed",
    "succeeded",
    "failed",
    "rolled-back",
    "cancelled",
    "superseded",
)
FINAL_STATUSES = frozenset({"succeeded", "failed", "rolled-back", "cancelled", "superseded"})
# Outcomes a device reports, mapped to its status in the deployment.
OUTCOME_STATUS = {
    "downloading": "downloading",
    "downloaded": "downloading",
    "installed": "installed",
    "succeeded": "succeeded",
    "confirmed": "succeeded",
    "failed": "failed",
    "rolled-back": "rolled-back",
}


def create_deployment(
    session: Session,
    account_sid: str,
    *,
    app_ident: str,
    target_type: str,
    target: str | None = None,
) -> Deployment:
    """Target an app on the chosen devices; an older deployment to a device is superseded."""
    if target_type not in TARGET_TYPES:
        raise invalid(f"invalid TargetType {target_type!r}: use device, tag or fleet")
    app = resolve_app(session, account_sid, app_ident)
    devices = _select_devices(session, account_sid, target_type, target)
    deployment = Deployment(
        sid=sids.new_sid(sids.DEPLOYMENT),
        account_sid=account_sid,
        app_sid=app.sid,
        target_type=target_type,
        target=target if target_type != "fleet" else None,
        status="active" if devices else "completed",
    )
    session.add(deployment)
    session.flush()
    for device in devices:
        _supersede(session, device.sid)
        session.add(DeploymentDevice(deployment_sid=deployment.sid, device_sid=device.sid))
        set_target_app(session, device, app)
    session.flush()
    log.info(
        "Created deployment (deployment_sid=%s, app_sid=%s, target=%s:%s, devices=%d)",
        deployment.sid,
        app.sid,
        target_type,
        target,
        len(devices),
    )
    return deployment


def _select_devices(
    session: Session, account_sid: str, target_type: str, target: str | None
) -> list[Device]:
    if target_type == "device":
        if not target:
            raise invalid("missing Target: name the device SID or unique name")
        return [get_device(session, account_sid, target)]
    stmt = select(Device).where(Device.account_sid == account_sid).order_by(Device.sid)
    if target_type == "tag":
        if not target:
            raise invalid("missing Target: name the tag to deploy to")
        stmt = stmt.where(
            Device.sid.in_(
                select(DeviceTag.device_sid).where(
                    DeviceTag.account_sid == account_sid, DeviceTag.tag == target
                )
            )
        )
    return list(session.scalars(stmt))


def _supersede(session: Session, device_sid: str) -> None:
    rows = session.scalars(
        select(DeploymentDevice).where(
            DeploymentDevice.device_sid == device_sid,
            DeploymentDevice.status.not_in(FINAL_STATUSES),
        )
    )
    touched: set[str] = set()
    for row in rows:
        row.status = "superseded"
        row.date_updated = utcnow()
        touched.add(row.deployment_sid)
    session.flush()
    for deployment_sid in touched:
        _settle(session, deployment_sid)


def _settle(session: Session, deployment_sid: str) -> None:
    """Mark a deployment completed once every device reached a final status."""
    deployment = session.get(Deployment, deployment_sid)
    if deployment is None or deployment.status != "active":
        return
    open_rows = session.scalar(
        select(DeploymentDevice.device_sid).where(
            DeploymentDevice.deployment_sid == deployment_sid,
            DeploymentDevice.status.not_in(FINAL_STATUSES),
        )
    )
    if open_rows is None:
        deployment.status = "completed"
        deployment.date_updated = utcnow()


def list_deployments(
    session: Session, account_sid: str, paging: PageRequest
) -> PageResult[Deployment]:
    """List the account's deployments, newest first."""
    stmt = (
        select(Deployment)
        .where(Deployment.account_sid == account_sid)
        .order_by(Deployment.date_created.desc(), Deployment.sid)
    )
    return paginate(session, stmt, paging)


def get_deployment(session: Session, account_sid: str, deployment_sid: str) -> Deployment:
    """Fetch one deployment of the account."""
    deployment = session.get(Deployment, deployment_sid)
    if deployment is None or deployment.account_sid != account_sid:
        raise not_found("Deployment", deployment_sid)
    return deployment


def list_deployment_devices(
    session: Session, account_sid: str, deployment_sid: str, paging: PageRequest
) -> PageResult[DeploymentDevice]:
    """List the per-device status of a deployment."""
    get_deployment(session, account_sid, deployment_sid)
    stmt = (
        select(DeploymentDevice)
        .where(DeploymentDevice.deployment_sid == deployment_sid)
        .order_by(DeploymentDevice.device_sid)
    )
    return paginate(session, stmt, paging)


def cancel_deployment(session: Session, account_sid: str, deployment_sid: str) -> Deployment:
    """Cancel a deployment: devices not yet updated go back to the app they run."""
    deployment = get_deployment(session, account_sid, deployment_sid)
    if deployment.status != "active":
        raise conflict(
            f"deployment {deployment_sid} is {deployment.status}: only active ones cancel"
        )
    now = utcnow()
    for row in session.scalars(
        select(DeploymentDevice).where(DeploymentDevice.deployment_sid == deployment_sid)
    ):
        if row.status in FINAL_STATUSES:
            continue
        row.status = "cancelled"
        row.date_updated = now
        device = session.get(Device, row.device_sid)
        if device is not None and device.target_app_sid == deployment.app_sid:
            reported = (
                session.get(App, device.reported_app_sid) if device.reported_app_sid else None
            )
            set_target_app(session, device, reported)
    deployment.status = "cancelled"
    deployment.date_updated = now
    session.flush()
    log.info("Cancelled deployment (deployment_sid=%s)", deployment_sid)
    return deployment


@dataclass(frozen=True)
class DeviceTarget:
    """The app a device should run, for the device link."""

    app_sid: str | None
    hash: str | None
    manifest: bytes | None


def target_for_device(session: Session, device_sid: str) -> DeviceTarget:
    """Return the app the device should run (its target), with the signed manifest."""
    device = get_device_by_sid(session, device_sid)
    if device.target_app_sid is None:
        return DeviceTarget(None, None, None)
    app = session.get(App, device.target_app_sid)
    if app is None:
        return DeviceTarget(None, None, None)
    return DeviceTarget(app.sid, app.hash, app.manifest)


def record_update_outcome(
    session: Session,
    device_sid: str,
    *,
    app_sid: str | None,
    outcome: str,
    error_code: int = 0,
    detail: str = "",
) -> UpdateOutcome:
    """Store an update outcome a device reported and move its deployment status."""
    if outcome not in OUTCOME_STATUS:
        raise invalid(f"invalid update outcome {outcome!r}: use one of {', '.join(OUTCOME_STATUS)}")
    device = get_device_by_sid(session, device_sid)
    now = utcnow()
    status = OUTCOME_STATUS[outcome]
    rows = list(
        session.scalars(
            select(DeploymentDevice)
            .join(Deployment, Deployment.sid == DeploymentDevice.deployment_sid)
            .where(
                DeploymentDevice.device_sid == device_sid,
                Deployment.app_sid == app_sid,
                DeploymentDevice.status.not_in(FINAL_STATUSES),
            )
        )
    )
    for row in rows:
        row.status = status
        row.error_code = error_code
        row.date_updated = now
    record = UpdateOutcome(
        sid=sids.new_sid(sids.UPDATE_OUTCOME),
        account_sid=device.account_sid,
        device_sid=device_sid,
        app_sid=app_sid,
        deployment_sid=rows[0].deployment_sid if rows else None,
        outcome=outcome,
        error_code=error_code,
        detail=detail[:2000],
    )
    session.add(record)
    if device.target_app_sid == app_sid:
        if status == "succeeded":
            device.reported_app_sid = app_sid
            device.date_reported = now
            device.update_status = "up-to-date"
            device.update_error_code = 0
        elif status in ("failed", "rolled-back"):
            device.update_status = "error"
            device.update_error_code = error_code or 1
    session.flush()
    for row in rows:
        _settle(session, row.deployment_sid)
    session.flush()
    log.info(
        "Recorded update outcome (device_sid=%s, app_sid=%s, outcome=%s, error_code=%d)",
        device_sid,
        app_sid,
        outcome,
        error_code,
    )
    return record


def list_update_outcomes(
    session: Session, account_sid: str, device_ident: str, paging: PageRequest
) -> PageResult[UpdateOutcome]:
    """List a device's update outcomes, newest first."""
    return list_device_records(session, UpdateOutcome, account_sid, device_ident, paging)
