"""Apps: bundle upload (verified, signed by the cloud), lookup, delete and download."""

from __future__ import annotations

import hashlib
import io
import logging
import zipfile

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

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
from openvisor.cloud.signing import CloudSigner, OpaqueManifest, layer_fetch_hashes
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
        manifest, layers = _read_bundle(bundle)
        if manifest.signer_id == 0:
            manifest = OpaqueManifest(signer.signer_id, manifest.body, signer.sign(manifest.body))
        elif manifest.signer_id == signer.signer_id:
            signer.verify(manifest.body, manifest.signature)
        else:
            raise VerificationError(
                f"manifest is signed by key {manifest.signer_id:#018x}, which this cloud "
                "does not hold: upload the bundle unsigned and the cloud signs it"
            )
    except BundleError as exc:
        raise invalid(f"invalid bundle: {exc}") from exc

    if unique_name:
        check_unique_name(unique_name)
        taken = session.scalar(
            select(App.sid).where(App.account_sid == account_sid, App.unique_name == unique_name)
        )
        if taken is not None:
            raise conflict(f"UniqueName {unique_name!r} is already used by app {taken}")
    manifest_bytes = manifest.serialize()
    app = App(
        sid=sids.new_sid(sids.APP),
        account_sid=account_sid,
        unique_name=unique_name or None,
        hash="sha256:" + hashlib.sha256(manifest_bytes).hexdigest(),
        manifest=manifest_bytes,
    )
    session.add(app)
    session.flush()
    for fetch_hash, data in layers.items():
        session.add(AppLayer(app_sid=app.sid, fetch_hash=fetch_hash, data=data))
    session.flush()
    log.info(
        "Uploaded app (account_sid=%s, app_sid=%s, layers=%d, bytes=%d)",
        account_sid,
        app.sid,
        len(layers),
        len(bundle),
    )
    return app


def _read_bundle(bundle: bytes) -> tuple[OpaqueManifest, dict[str, bytes]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(bundle))
    except zipfile.BadZipFile as exc:
        raise BundleError("the File part is not a zip archive") from exc
    with archive:
        names = set(archive.namelist())
        if "manifest" not in names:
            raise BundleError("the archive has no 'manifest' entry")
        manifest = OpaqueManifest.parse(archive.read("manifest"))
        if not manifest.body:
            raise BundleError("the manifest has an empty body")
        layers: dict[str, bytes] = {}
        for fetch_hash in layer_fetch_hashes(manifest.body):
            name = fetch_hash.hex()
            if name not in names:
                raise BundleError(f"layer {name} named in the manifest is missing")
            data = archive.read(name)
            if hashlib.sha256(data).hexdigest() != name:
                raise BundleError(f"layer {name} does not match its SHA-256")
            layers[name] = data
    if not layers:
        raise BundleError("the manifest lists no layers")
    return manifest, layers


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
    user = session.scalar(select(Device.sid).where(Device.target_app_sid == app.sid))
    if user is not None:
        raise conflict(f"app {app.sid} is the target of device {user}: retarget it first")
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
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest", app.manifest)
        for layer in session.scalars(
            select(AppLayer).where(AppLayer.app_sid == app.sid).order_by(AppLayer.fetch_hash)
        ):
            archive.writestr(layer.fetch_hash, layer.data)
    return out.getvalue()
