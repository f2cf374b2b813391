"""JSON responses with the content type the compatible API sends."""

from __future__ import annotations

from typing import Any

from fastapi import Response
from fastapi.responses import JSONResponse

JSON_TYPE = "application/json; charset=utf-8"


def json_response(body: dict[str, Any], status: int = 200) -> JSONResponse:
    """Send a JSON object as ``application/json; charset=utf-8``."""
    return JSONResponse(body, status_code=status, media_type=JSON_TYPE)


def no_content() -> Response:
    """Send 204, which the SDK's ``delete()`` needs to return ``True``."""
    return Response(status_code=204)
