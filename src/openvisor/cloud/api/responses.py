"""JSON responses with the content type the compatible API sends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from openvisor.cloud.api.deps import public_base
from openvisor.cloud.api.views import JSON, page_view
from openvisor.cloud.service.common import PageResult

JSON_TYPE = "application/json; charset=utf-8"

T = TypeVar("T")


def json_response(body: dict[str, Any], status: int = 200) -> JSONResponse:
    """Send a JSON object as ``application/json; charset=utf-8``."""
    return JSONResponse(body, status_code=status, media_type=JSON_TYPE)


def page_response(
    request: Request, key: str, result: PageResult[T], view: Callable[[str, T], JSON]
) -> JSONResponse:
    """Send one page of a list under ``key``, each item rendered by ``view(base, item)``.

    ``base`` is the public base URL that the item links and page links use.
    """
    base = public_base(request)
    return json_response(page_view(base, request.url, key, result, lambda item: view(base, item)))


def no_content() -> Response:
    """Send 204, which the SDK's ``delete()`` needs to return ``True``."""
    return Response(status_code=204)
