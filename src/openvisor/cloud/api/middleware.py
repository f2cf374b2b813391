"""ASGI middleware: request-size limits and Prometheus request metrics."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openvisor.cloud.service.common import CODE_TOO_LARGE

# Rejected bodies up to this size are read and dropped before the 413 goes out.
_MAX_DRAIN_BYTES = 16 * 1024 * 1024


class _BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """Reject bodies over the limit with 413; uploads to ``POST /v1/Apps`` get a larger one."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, max_bundle_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_bundle_bytes = max_bundle_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_upload = scope["method"] == "POST" and scope["path"].rstrip("/") == "/v1/Apps"
        limit = self.max_bundle_bytes if is_upload else self.max_bytes
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                if int(value) <= _MAX_DRAIN_BYTES:
                    await _drain(receive)
                await _send_too_large(send, limit)
                return

        received = 0
        started = False
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if too_large:
                # The body parser turned the overflow into its own error response,
                # so the client gets the 413 instead.
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _drain(receive)
                    await _send_too_large(send, limit)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _drain(receive)
                await _send_too_large(send, limit)


async def _drain(receive: Receive) -> None:
    # Reading the rest of a rejected body lets the client finish sending and
    # read the 413; closing at once would make it see a connection reset.
    drained = 0
    while drained <= _MAX_DRAIN_BYTES:
        message = await receive()
        if message["type"] != "http.request":
            return
        drained += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _send_too_large(send: Send, limit: int) -> None:
    body = json.dumps(
        {
            "code": CODE_TOO_LARGE,
            "message": f"request body is larger than {limit} bytes: send a smaller body",
            "more_info": f"https://www.twilio.com/docs/errors/{CODE_TOO_LARGE}",
            "status": 413,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


@dataclass
class Metrics:
    """Prometheus collectors of one app instance (own registry, so tests can make many apps)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "openvisor_http_requests",
            "HTTP requests served, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.devices = Gauge(
            "openvisor_devices",
            "Devices in the database by presence, read at each scrape",
            ["presence"],
            registry=self.registry,
        )
        self.active_deployments = Gauge(
            "openvisor_active_deployments",
            "Deployments still in progress, read at each scrape",
            registry=self.registry,
        )
        self.latency = Histogram(
            "openvisor_http_request_duration_seconds",
            "Time to serve an HTTP request, by route template",
            ["route"],
            registry=self.registry,
        )


class MetricsMiddleware:
    """Count requests and time them by route template (never by raw path)."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        begin = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], template, str(status)).inc()
            self.metrics.latency.labels(template).observe(time.perf_counter() - begin)
