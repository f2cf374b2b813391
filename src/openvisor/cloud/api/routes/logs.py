"""Device logs: pages, and live streams by server-sent events or WebSocket.

Live streams poll SQL for new rows, so a stream served by one instance
shows logs stored by any instance.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from openvisor.cloud.api.deps import (
    Caller,
    DbSession,
    Paging,
    ServiceState,
    State,
    authenticate_connection,
    get_state,
)
from openvisor.cloud.api.responses import page_response
from openvisor.cloud.api.views import log_view
from openvisor.cloud.db import session_scope
from openvisor.cloud.service import logs
from openvisor.cloud.service.common import forbidden
from openvisor.cloud.service.devices import get_device
from openvisor.errors import CloudError

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["Logs"])

AfterQuery = Annotated[
    int | None, Query(alias="After", ge=0, description="Only logs with a larger id")
]


@router.get("/Devices/{sid}/Logs")
def list_logs(
    request: Request,
    sid: str,
    caller: Caller,
    session: DbSession,
    paging: Paging,
    after: AfterQuery = None,
) -> JSONResponse:
    """List a device's logs, oldest first."""
    result = logs.list_logs(session, caller.account_sid, sid, paging, after_id=after)
    return page_response(request, "logs", result, lambda _base, entry: log_view(entry))


def _resolve_start(
    state: ServiceState, account_sid: str, ident: str, after: int | None
) -> tuple[str, int]:
    with session_scope(state.sessions) as session:
        device = get_device(session, account_sid, ident)
        start = after if after is not None else logs.latest_log_id(session, device.sid)
        return device.sid, start


def _fetch_after(state: ServiceState, device_sid: str, after: int) -> list[dict[str, Any]]:
    with session_scope(state.sessions) as session:
        return [log_view(entry) for entry in logs.logs_after(session, device_sid, after)]


async def _follow(
    state: ServiceState, device_sid: str, after: int
) -> AsyncIterator[list[dict[str, Any]]]:
    """Yield batches of new logs forever, polling the database."""
    while True:
        batch = await run_in_threadpool(_fetch_after, state, device_sid, after)
        if batch:
            after = int(batch[-1]["id"])
            yield batch
        else:
            await asyncio.sleep(state.settings.log_poll_interval_s)


@router.get("/Devices/{sid}/Logs/Stream")
async def stream_logs(
    request: Request, sid: str, caller: Caller, state: State, after: AfterQuery = None
) -> EventSourceResponse:
    """Stream new logs as server-sent events (``event: log``, ``id`` is the log id)."""
    last_event = request.headers.get("last-event-id")
    if after is None and last_event and last_event.isdigit():
        after = int(last_event)
    device_sid, start = await run_in_threadpool(
        _resolve_start, state, caller.account_sid, sid, after
    )

    async def events() -> AsyncIterator[dict[str, str]]:
        async for batch in _follow(state, device_sid, start):
            for entry in batch:
                yield {"event": "log", "id": str(entry["id"]), "data": json.dumps(entry)}

    return EventSourceResponse(events(), ping=15)


@router.websocket("/Devices/{sid}/Logs/Live")
async def live_logs(websocket: WebSocket, sid: str, after: AfterQuery = None) -> None:
    """Send new logs over a WebSocket, one JSON object per message (Basic auth on the handshake)."""
    state = get_state(websocket)
    try:
        principal = await run_in_threadpool(authenticate_connection, websocket, state)
        if principal.is_device:
            raise forbidden(f"device {principal.sid} may not read logs: use account credentials")
        device_sid, start = await run_in_threadpool(
            _resolve_start, state, principal.account_sid, sid, after
        )
    except CloudError as exc:
        # Accept, then close with 4000 + the HTTP status, so that clients see
        # 4401 or 4404 and the reason, not a bare HTTP 403 handshake failure.
        await websocket.accept()
        await websocket.close(code=4000 + (exc.status or 400), reason=str(exc)[:120])
        return
    await websocket.accept()
    follower = _follow(state, device_sid, start)
    try:
        async for batch in follower:
            for entry in batch:
                await websocket.send_json(entry)
    except WebSocketDisconnect:
        log.debug("Closed live log stream (device_sid=%s)", device_sid)
