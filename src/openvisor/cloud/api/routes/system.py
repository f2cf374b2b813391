"""Health and metrics endpoints (no credentials, no account data)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from openvisor.cloud.api.deps import get_state
from openvisor.cloud.api.responses import json_response

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
    """Expose Prometheus metrics of this instance."""
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
