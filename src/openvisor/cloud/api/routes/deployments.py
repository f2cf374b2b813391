"""Deployments: an app to one device, a tag or the whole fleet; per-device status; cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse

from openvisor.cloud.api.deps import Caller, DbSession, Paging, public_base
from openvisor.cloud.api.responses import json_response, page_response
from openvisor.cloud.api.views import deployment_device_view, deployment_view
from openvisor.cloud.service import deployments
from openvisor.cloud.service.common import invalid

router = APIRouter(prefix="/v1", tags=["Deployments"])


@router.get("/Deployments")
def list_deployments(
    request: Request, caller: Caller, session: DbSession, paging: Paging
) -> JSONResponse:
    """List the account's deployments, newest first."""
    result = deployments.list_deployments(session, caller.account_sid, paging)
    return page_response(request, "deployments", result, deployment_view)


@router.post("/Deployments", status_code=201)
def create_deployment(
    request: Request,
    caller: Caller,
    session: DbSession,
    app: Annotated[str, Form(alias="App", description="App SID or unique name")],
    target_type: Annotated[
        str, Form(alias="TargetType", description="device, tag or fleet")
    ] = "device",
    target: Annotated[
        str | None, Form(alias="Target", description="Device SID or unique name, or a tag")
    ] = None,
) -> JSONResponse:
    """Deploy an app to a device, every device with a tag, or the whole fleet."""
    deployment = deployments.create_deployment(
        session, caller.account_sid, app_ident=app, target_type=target_type, target=target
    )
    return json_response(deployment_view(public_base(request), deployment), status=201)


@router.get("/Deployments/{sid}")
def fetch_deployment(
    request: Request, sid: str, caller: Caller, session: DbSession
) -> JSONResponse:
    """Fetch a deployment."""
    deployment = deployments.get_deployment(session, caller.account_sid, sid)
    return json_response(deployment_view(public_base(request), deployment))


@router.post("/Deployments/{sid}")
def update_deployment(
    request: Request,
    sid: str,
    caller: Caller,
    session: DbSession,
    status: Annotated[str, Form(alias="Status", description="cancelled")],
) -> JSONResponse:
    """Cancel a deployment with ``Status=cancelled``."""
    if status != "cancelled":
        raise invalid(f"invalid Status {status!r}: only cancelled can be set")
    deployment = deployments.cancel_deployment(session, caller.account_sid, sid)
    return json_response(deployment_view(public_base(request), deployment))


@router.get("/Deployments/{sid}/Devices")
def list_deployment_devices(
    request: Request, sid: str, caller: Caller, session: DbSession, paging: Paging
) -> JSONResponse:
    """List the status of each device in a deployment."""
    result = deployments.list_deployment_devices(session, caller.account_sid, sid, paging)
    return page_response(request, "devices", result, deployment_device_view)
