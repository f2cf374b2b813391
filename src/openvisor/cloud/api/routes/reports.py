"""Crash reports, update outcomes and debug-session records of a device."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse

from openvisor.cloud.api.deps import Caller, DbSession, Paging, public_base
from openvisor.cloud.api.responses import json_response, page_response
from openvisor.cloud.api.views import crash_view, debug_session_view, outcome_view
from openvisor.cloud.service import deployments, reports
from openvisor.cloud.service.devices import get_device

router = APIRouter(prefix="/v1")


@router.get("/Devices/{sid}/CrashReports", tags=["Crash Reports"])
def list_crash_reports(
    request: Request, sid: str, caller: Caller, session: DbSession, paging: Paging
) -> JSONResponse:
    """List a device's crash reports, newest first."""
    result = reports.list_crashes(session, caller.account_sid, sid, paging)
    return page_response(request, "crash_reports", result, crash_view)


@router.get("/Devices/{sid}/CrashReports/{crash_sid}", tags=["Crash Reports"])
def fetch_crash_report(
    request: Request, sid: str, crash_sid: str, caller: Caller, session: DbSession
) -> JSONResponse:
    """Fetch one crash report."""
    record = reports.get_crash(session, caller.account_sid, sid, crash_sid)
    return json_response(crash_view(public_base(request), record))


@router.get("/Devices/{sid}/UpdateOutcomes", tags=["Update Outcomes"])
def list_update_outcomes(
    request: Request, sid: str, caller: Caller, session: DbSession, paging: Paging
) -> JSONResponse:
    """List the update outcomes a device reported, newest first."""
    result = deployments.list_update_outcomes(session, caller.account_sid, sid, paging)
    return page_response(request, "update_outcomes", result, outcome_view)


@router.get("/Devices/{sid}/DebugSessions", tags=["Debug Sessions"])
def list_debug_sessions(
    request: Request, sid: str, caller: Caller, session: DbSession, paging: Paging
) -> JSONResponse:
    """List a device's debug sessions, newest first."""
    result = reports.list_debug_sessions(session, caller.account_sid, sid, paging)
    return page_response(request, "debug_sessions", result, debug_session_view)


@router.post("/Devices/{sid}/DebugSessions", status_code=201, tags=["Debug Sessions"])
def open_debug_session(
    request: Request,
    sid: str,
    caller: Caller,
    session: DbSession,
    client_public_key: Annotated[str, Form(alias="ClientPublicKey")] = "",
) -> JSONResponse:
    """Record a new debug session for a device."""
    record = reports.open_debug_session(
        session, caller.account_sid, sid, client_public_key=client_public_key
    )
    return json_response(debug_session_view(public_base(request), record), status=201)


@router.get("/Devices/{sid}/DebugSessions/{session_sid}", tags=["Debug Sessions"])
def fetch_debug_session(
    request: Request, sid: str, session_sid: str, caller: Caller, session: DbSession
) -> JSONResponse:
    """Fetch one debug session."""
    record = reports.get_debug_session(session, caller.account_sid, sid, session_sid)
    return json_response(debug_session_view(public_base(request), record))


@router.delete("/Devices/{sid}/DebugSessions/{session_sid}", tags=["Debug Sessions"])
def close_debug_session(
    request: Request, sid: str, session_sid: str, caller: Caller, session: DbSession
) -> JSONResponse:
    """Close a debug session; the record stays, with ``status`` closed."""
    get_device(session, caller.account_sid, sid)
    reports.get_debug_session(session, caller.account_sid, sid, session_sid)
    record = reports.close_debug_session(session, session_sid)
    return json_response(debug_session_view(public_base(request), record))
