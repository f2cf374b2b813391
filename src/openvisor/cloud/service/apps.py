"""Apps: bundle upload (verified, signed by the cloud), lookup, delete and download."""

from __future__ import annotations

import logging

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from openvisor.bundle import build_opaque_manifest, parse_manifest, read_bundle, write_bundle
from openvisor.bundle.verify import check_layers
from openvisor.cloud import sids
from openvisor.cloud.models import App, AppLayer, Deployment, DeploymentDevice, Device
from openvisor.cloud.service.common import (
    PageRequest,
    PageResult,
    conflict,
    invalid,
    not_found,
    paginate,
)
from openvisor.cloud.service.devices import check_unique_name, resolve_app
from openvisor.cloud.signing import CloudSigner
from openvisor.errors import BundleError, VerificationError

log = logging.getLogger(__name__)


def upload_bundle(
    session: Session,
    account_sid: str,
    bundle: bytes,
    *,
    signer: CloudSigner,
    unique_name: str | None = None,
) -> App:
    """Verify an uploaded bundle, sign an unsigned manifest, and store it as a new app."""
    try:
        contents = read_bundle(bundle)
        manifest = parse_manifest(contents.manifest)
        check_layers(manifest, contents.layers)
        if not manifest.signed:
            manifest_bytes = build_opaque_manifest(manifest.body, signer)
        elif manifest.signer_id != signer.signer_id:
            raise VerificationError(
                f"manifest is signed by key {manifest.signer_id:016x}, which this cloud does "
                "not hold: upload the bundle unsigned and the cloud signs it"
            )
        elif not signer.verifies(manifest.body, manifest.signature):
            raise VerificationError(
                f"manifest signature by key {manifest.signer_id:016x} is invalid: "
                "upload the bundle unsigned and the cloud signs it"
            )
        else:
            manifest_bytes = contents.manifest
    except BundleError as exc:
        raise invalid(f"invalid bundle: {exc}") from exc

    if unique_name:
        check_unique_name(unique_name)
        existing_app = session.scalar(
            select(App.sid).where(App.account_sid == account_sid, App.unique_name == unique_name)
        )
        if existing_app is not None:
            raise conflict(f"UniqueName {unique_name!r} is already used by app {existing_app}")
    app = App(
        sid=sids.new_sid(sids.APP),
        account_sid=account_sid,
        unique_name=unique_name or None,
        # The hash names the manifest body, which re-signing leaves unchanged;
        # devices report the same hash (the bundle's app id) for what they run.
        hash="sha256:" + manifest.app_id,
        manifest=manifest_bytes,
    )
    session.add(app)
    session.flush()
    for ref in manifest.layers:
        name = ref.fetch_hash.hex()
        session.add(AppLayer(app_sid=app.sid, fetch_hash=name, data=contents.layers[name]))
    session.flush()
    log.info(
        "Uploaded app (account_sid=%s, app_sid=%s, layers=%d, bytes=%d)",
        account_sid,
        app.sid,
        len(manifest.layers),
        len(bundle),
    )
    return app


def list_apps(session: Session, account_sid: str, paging: PageRequest) -> PageResult[App]:
    """List the account's apps, oldest first."""
    stmt = select(App).where(App.account_sid == account_sid).order_by(App.date_created, App.sid)
    return paginate(session, stmt, paging)


def get_app(session: Session, account_sid: str, ident: str) -> App:
    """Fetch an app by SID or unique name."""
    return resolve_app(session, account_sid, ident)


def delete_app(session: Session, account_sid: str, ident: str) -> None:
    """Delete an app unless a device targets it or a deployment is active."""
    app = resolve_app(session, account_sid, ident)
    target_device = session.scalar(select(Device.sid).where(Device.target_app_sid == app.sid))
    if target_device is not None:
        raise conflict(f"app {app.sid} is the target of device {target_device}: retarget it first")
    active = session.scalar(
        select(Deployment.sid).where(Deployment.app_sid == app.sid, Deployment.status == "active")
    )
    if active is not None:
        raise conflict(f"app {app.sid} has active deployment {active}: cancel it first")
    # Finished deployments of the app go with it.
    old_deployments = list(
        session.scalars(select(Deployment.sid).where(Deployment.app_sid == app.sid))
    )
    if old_deployments:
        session.execute(
            delete(DeploymentDevice).where(DeploymentDevice.deployment_sid.in_(old_deployments))
        )
        session.execute(delete(Deployment).where(Deployment.sid.in_(old_deployments)))
    session.execute(delete(AppLayer).where(AppLayer.app_sid == app.sid))
    session.delete(app)
    session.flush()
    log.info("Deleted app (account_sid=%s, app_sid=%s)", account_sid, app.sid)


def get_layer(session: Session, app: App, fetch_hash: str) -> bytes:
    """Return the bytes of one layer of an app."""
    layer = session.get(AppLayer, (app.sid, fetch_hash))
    if layer is None:
        raise not_found("Layer", fetch_hash)
    return layer.data


def build_bundle(session: Session, app: App) -> bytes:
    """Rebuild the stored (signed) bundle of an app as a zip archive."""
    manifest = parse_manifest(app.manifest)
    layers = {
        layer.fetch_hash: layer.data
        for layer in session.scalars(select(AppLayer).where(AppLayer.app_sid == app.sid))
    }
    return write_bundle(app.manifest, [layers[ref.fetch_hash.hex()] for ref in manifest.layers])
