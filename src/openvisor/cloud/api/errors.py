"""The one place that turns errors into the compatible JSON error envelope."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from openvisor.cloud.service.common import CODE_INVALID
from openvisor.cloud.service.ratelimit import RateLimitError
from openvisor.errors import CloudError

log = logging.getLogger(__name__)

JSON_TYPE = "application/json; charset=utf-8"
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# Twilio codes for the generic HTTP statuses the framework raises.
_STATUS_CODES = {
    400: 20001,
    401: 20003,
    403: 20403,
    404: 20404,
    405: 20004,
    413: 20413,
    429: 20429,
    500: 20500,
}


def error_response(
    status: int, code: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """Build the error envelope: ``code``, ``message``, ``more_info`` and ``status``."""
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=JSON_TYPE)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that map every error to the envelope."""

    @app.exception_handler(CloudError)
    async def cloud_error(request: Request, exc: CloudError) -> JSONResponse:
        status = exc.status or 400
        headers: dict[str, str] = {}
        if isinstance(exc, RateLimitError):
            headers["Retry-After"] = str(exc.retry_after)
        if status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="openvisor"'
        return error_response(
            status, exc.code or _STATUS_CODES.get(status, status), str(exc), headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors():
            location = error.get("loc", ())
            name = location[-1] if location else "request"
            problems.append(f"{name}: {error.get('msg', 'invalid')}")
        # Input values are left out on purpose: the body may carry a secret.
        message = "invalid request: " + "; ".join(problems)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if request.method in ("POST", "PUT", "PATCH") and content_type not in _FORM_TYPES:
            message += (
                f" (the body was sent as {content_type or 'no content type'!r}: send the fields "
                "form-encoded, Content-Type: application/x-www-form-urlencoded)"
            )
        return error_response(400, CODE_INVALID, message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"no resource at {request.url.path}: check the path"
        elif exc.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        return error_response(
            exc.status_code,
            _STATUS_CODES.get(exc.status_code, exc.status_code),
            message,
            dict(exc.headers or {}),
        )

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("Failed request (method=%s, path=%s)", request.method, request.url.path)
        return error_response(500, 20500, "internal server error: the service log has details")
