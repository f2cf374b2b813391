"""Health and metrics endpoints (no credentials, no account data)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from openvisor.cloud.api.deps import get_state
from openvisor.cloud.api.responses import json_response
from openvisor.cloud.db import session_scope
from openvisor.cloud.models import Deployment, Device

router = APIRouter(tags=["System"])


@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    """Report whether the service can reach its database."""
    state = get_state(request)

    def ping() -> None:
        with state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    try:
        await run_in_threadpool(ping)
    except SQLAlchemyError as exc:
        return json_response({"status": "error", "database": type(exc).__name__}, status=503)
    return json_response({"status": "ok", "database": "ok"})


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Expose Prometheus metrics: this instance's requests and the fleet in the database."""
    collectors = request.app.state.metrics
    state = get_state(request)
    with session_scope(state.sessions) as session:
        online = session.execute(select(Device.online, func.count()).group_by(Device.online))
        counts = {bool(is_online): int(number) for is_online, number in online}
        active = session.scalar(
            select(func.count()).select_from(Deployment).where(Deployment.status == "active")
        )
    collectors.devices.labels("online").set(counts.get(True, 0))
    collectors.devices.labels("offline").set(counts.get(False, 0))
    collectors.active_deployments.set(active or 0)
    return Response(generate_latest(collectors.registry), media_type=CONTENT_TYPE_LATEST)
