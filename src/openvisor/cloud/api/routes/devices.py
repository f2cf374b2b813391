"""Devices (compatible resource), tags and provisioning."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from openvisor.cloud.api.deps import (
    AnyCaller,
    Caller,
    DbSession,
    Paging,
    State,
    parse_bool,
    public_base,
)
from openvisor.cloud.api.responses import json_response, no_content, page_response
from openvisor.cloud.api.views import JSON, device_view
from openvisor.cloud.models import App, Device, DeviceTag
from openvisor.cloud.service import devices

router = APIRouter(prefix="/v1", tags=["Devices"])


def render_device(session: Session, base: str, device: Device) -> JSON:
    """Render a device with its target hash and tags."""
    app = session.get(App, device.target_app_sid) if device.target_app_sid else None
    tags = devices.list_tags(session, device.account_sid, device.sid)
    return device_view(base, device, app.hash if app else None, tags)


@router.get("/Devices")
def list_devices(
    request: Request,
    caller: Caller,
    session: DbSession,
    paging: Paging,
    tag: Annotated[str | None, Query(alias="Tag")] = None,
) -> JSONResponse:
    """List the account's devices; ``Tag`` keeps those with a tag."""
    result = devices.list_devices(session, caller.account_sid, paging, tag=tag)
    # Tags and target hashes of the whole page come from two queries, not two per device.
    sids = [device.sid for device in result.items]
    tags: dict[str, list[str]] = {sid: [] for sid in sids}
    for device_sid, name in session.execute(
        select(DeviceTag.device_sid, DeviceTag.tag)
        .where(DeviceTag.device_sid.in_(sids))
        .order_by(DeviceTag.tag)
    ):
        tags[device_sid].append(name)
    targets = {d.target_app_sid for d in result.items if d.target_app_sid}
    hashes: dict[str, str] = {}
    for app_sid, app_hash in session.execute(select(App.sid, App.hash).where(App.sid.in_(targets))):
        hashes[app_sid] = app_hash
    return page_response(
        request,
        "devices",
        result,
        lambda base, d: device_view(base, d, hashes.get(d.target_app_sid or ""), tags[d.sid]),
    )


@router.get("/Devices/{sid}")
def fetch_device(request: Request, sid: str, caller: Caller, session: DbSession) -> JSONResponse:
    """Fetch a device by SID or unique name."""
    device = devices.get_device(session, caller.account_sid, sid)
    return json_response(render_device(session, public_base(request), device))


@router.post("/Devices/{sid}")
def update_device(
    request: Request,
    sid: str,
    caller: Caller,
    session: DbSession,
    unique_name: Annotated[str | None, Form(alias="UniqueName")] = None,
    target_app: Annotated[str | None, Form(alias="TargetApp")] = None,
    app_sid: Annotated[
        str | None, Form(alias="AppSid", description="Older alias of TargetApp")
    ] = None,
    logging_enabled: Annotated[str | None, Form(alias="LoggingEnabled")] = None,
    restart_app: Annotated[str | None, Form(alias="RestartApp")] = None,
) -> JSONResponse:
    """Update a device: unique name, target app, logging, app restart."""
    device = devices.update_device(
        session,
        caller.account_sid,
        sid,
        unique_name=unique_name,
        target_app=target_app if target_app is not None else app_sid,
        logging_enabled=parse_bool("LoggingEnabled", logging_enabled),
        restart_app=parse_bool("RestartApp", restart_app),
    )
    return json_response(render_device(session, public_base(request), device))


@router.get("/Devices/{sid}/Tags")
def list_device_tags(sid: str, caller: Caller, session: DbSession) -> JSONResponse:
    """List a device's tags."""
    tags = devices.list_tags(session, caller.account_sid, sid)
    return json_response({"tags": tags, "meta": {"key": "tags", "next_page_url": None}})


@router.post("/Devices/{sid}/Tags", status_code=201)
def add_device_tag(
    sid: str, caller: Caller, session: DbSession, tag: Annotated[str, Form(alias="Tag")]
) -> JSONResponse:
    """Add a tag to a device."""
    device = devices.add_tag(session, caller.account_sid, sid, tag)
    return json_response({"device_sid": device.sid, "tag": tag}, status=201)


@router.delete("/Devices/{sid}/Tags/{tag}", status_code=204)
def remove_device_tag(sid: str, tag: str, caller: Caller, session: DbSession) -> Response:
    """Remove a tag from a device."""
    devices.remove_tag(session, caller.account_sid, sid, tag)
    return no_content()


def _broker_view(state: State, device_sid: str) -> JSON:
    return {
        "url": state.settings.broker_url,
        "username": device_sid,
        "topic_prefix": state.settings.topic_prefix,
    }


def _trust_view(state: State) -> JSON:
    return {
        "signer_id": f"{state.signer.signer_id:016x}",
        "public_key": base64.b64encode(state.signer.public_point).decode(),
    }


@router.post("/Provisioning", status_code=201, tags=["Provisioning"])
def provision_device(
    request: Request,
    caller: Caller,
    session: DbSession,
    state: State,
    public_key: Annotated[
        str, Form(alias="PublicKey", description="P-256 public key: PEM or base64 of the point")
    ],
    device_sid: Annotated[str | None, Form(alias="DeviceSid")] = None,
    unique_name: Annotated[str | None, Form(alias="UniqueName")] = None,
) -> JSONResponse:
    """Register a device with its public key; returns link credentials and the trust anchor."""
    registration = devices.provision_device(
        session,
        caller.account_sid,
        public_key=public_key,
        device_sid=device_sid,
        unique_name=unique_name,
    )
    device = registration.device
    body = render_device(session, public_base(request), device)
    body["link_secret"] = registration.link_secret
    body["broker"] = _broker_view(state, device.sid)
    body["bundle_signing_key"] = _trust_view(state)
    return json_response(body, status=201)


@router.get("/Provisioning", tags=["Provisioning"])
def provisioning_settings(caller: AnyCaller, state: State) -> JSONResponse:
    """Return the bundle-signing key and broker settings (devices use their own credentials)."""
    body: JSON = {"bundle_signing_key": _trust_view(state)}
    if caller.is_device:
        body["broker"] = _broker_view(state, caller.sid)
    return json_response(body)
