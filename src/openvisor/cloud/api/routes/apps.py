"""Apps (compatible resource), the App Manifest, bundle upload and downloads."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response, UploadFile
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from openvisor.cloud.api.deps import AnyCaller, Caller, DbSession, Paging, State, public_base
from openvisor.cloud.api.errors import error_response
from openvisor.cloud.api.responses import json_response, no_content, page_response
from openvisor.cloud.api.views import app_view, manifest_view
from openvisor.cloud.models import App, Device
from openvisor.cloud.service import apps
from openvisor.cloud.service.accounts import Principal
from openvisor.cloud.service.common import forbidden, invalid

router = APIRouter(prefix="/v1", tags=["Apps"])

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _readable_app(session: Session, caller: Principal, ident: str) -> App:
    """Fetch an app for an account caller, or for a device that targets or runs it."""
    app = apps.get_app(session, caller.account_sid, ident)
    if caller.is_device:
        device = session.get(Device, caller.sid)
        if device is None or app.sid not in (device.target_app_sid, device.reported_app_sid):
            raise forbidden(f"device {caller.sid} may read only the apps it targets or runs")
    return app


def ranged(request: Request, data: bytes, media_type: str) -> Response:
    """Serve bytes whole or, for a ``Range: bytes=a-b`` header, the one range asked for."""
    header = request.headers.get("range")
    headers = {"Accept-Ranges": "bytes"}
    if not header:
        return Response(data, media_type=media_type, headers=headers)
    match = _RANGE_RE.match(header.strip())
    size = len(data)
    start: int
    end: int
    if match and (match.group(1) or match.group(2)):
        if match.group(1):
            start = int(match.group(1))
            end = int(match.group(2)) if match.group(2) else size - 1
        else:
            start = max(size - int(match.group(2)), 0)
            end = size - 1
        end = min(end, size - 1)
        if start <= end:
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            return Response(data[start : end + 1], 206, headers=headers, media_type=media_type)
    # RFC 9110 section 15.5.17: the 416 names the current size, so a client
    # holding the whole resource already knows it is complete.
    return error_response(
        416,
        20416,
        f"unsatisfiable Range {header!r} for {size} bytes: ask for bytes=START-END within the size",
        {"Content-Range": f"bytes */{size}"},
    )


@router.get("/Apps")
def list_apps(request: Request, caller: Caller, session: DbSession, paging: Paging) -> JSONResponse:
    """List the account's apps."""
    result = apps.list_apps(session, caller.account_sid, paging)
    return page_response(request, "apps", result, app_view)


@router.post("/Apps", status_code=201)
def upload_app(
    request: Request,
    caller: Caller,
    session: DbSession,
    state: State,
    file: Annotated[UploadFile, Form(alias="File", description="The bundle (zip)")],
    unique_name: Annotated[str | None, Form(alias="UniqueName")] = None,
) -> JSONResponse:
    """Upload a bundle as multipart/form-data part ``File``; an unsigned one is signed."""
    data = file.file.read()
    if not data:
        raise invalid("the File part is empty: attach the bundle zip as form part File")
    app = apps.upload_bundle(
        session, caller.account_sid, data, signer=state.signer, unique_name=unique_name
    )
    return json_response(app_view(public_base(request), app), status=201)


@router.get("/Apps/{sid}")
def fetch_app(request: Request, sid: str, caller: Caller, session: DbSession) -> JSONResponse:
    """Fetch an app by SID or unique name."""
    return json_response(
        app_view(public_base(request), apps.get_app(session, caller.account_sid, sid))
    )


@router.delete("/Apps/{sid}", status_code=204)
def delete_app(sid: str, caller: Caller, session: DbSession) -> Response:
    """Delete an app that no device targets."""
    apps.delete_app(session, caller.account_sid, sid)
    return no_content()


@router.get("/Apps/{sid}/Manifest", tags=["App Manifest"])
def fetch_manifest(
    request: Request, sid: str, caller: AnyCaller, session: DbSession
) -> JSONResponse:
    """Fetch an app's signed manifest (base64 in ``encoded_bytes``)."""
    return json_response(manifest_view(public_base(request), _readable_app(session, caller, sid)))


@router.get("/Apps/{sid}/Bundle")
def download_bundle(request: Request, sid: str, caller: AnyCaller, session: DbSession) -> Response:
    """Download an app's signed bundle; supports HTTP range requests."""
    app = _readable_app(session, caller, sid)
    return ranged(request, apps.build_bundle(session, app), "application/zip")


@router.get("/Apps/{sid}/Layers/{fetch_hash}")
def download_layer(
    request: Request, sid: str, fetch_hash: str, caller: AnyCaller, session: DbSession
) -> Response:
    """Download one layer by its SHA-256; supports HTTP range requests."""
    app = _readable_app(session, caller, sid)
    return ranged(request, apps.get_layer(session, app, fetch_hash), "application/octet-stream")
