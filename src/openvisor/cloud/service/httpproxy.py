"""HTTP requests that device apps send through their HTTP channels.

The service executes each request with httpx under the rules of the
Microvisor HTTP API. The method is GET, HEAD, POST, PUT, DELETE, PATCH or
OPTIONS, and the URL starts with ``https://``. There are at most 32
headers, each ``Name: value``, and the timeout is 5000 to 10000 ms. A
broken rule is reported in ``result`` (numbered as ``MvHttpResult``), not
raised, because the device reports it to the app the same way.
"""

from __future__ import annotations

import fnmatch
import logging
import ssl
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from urllib.parse import urlsplit

import httpx

log = logging.getLogger(__name__)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
MAX_HEADERS = 32
MIN_TIMEOUT_MS = 5000
MAX_TIMEOUT_MS = 10000


class HttpResult(IntEnum):
    """Outcome of a proxied request, numbered as ``MvHttpResult``."""

    OK = 0
    UNSUPPORTEDURISCHEME = 1
    UNSUPPORTEDMETHOD = 2
    INVALIDHEADERS = 3
    INVALIDTIMEOUT = 4
    REQUESTFAILED = 5
    RESPONSETOOLARGE = 6


@dataclass(frozen=True)
class ProxyRequest:
    """A request as the app wrote it; ``headers`` are ``Name: value`` lines."""

    method: str
    url: str
    headers: list[str] = field(default_factory=list)
    body: bytes = b""
    timeout_ms: int = 10000


@dataclass(frozen=True)
class ProxyResponse:
    """The response handed back to the device (headers as ``Name: value`` lines)."""

    result: HttpResult
    status_code: int = 0
    headers: list[str] = field(default_factory=list)
    body: bytes = b""


@dataclass(frozen=True)
class ProxyPolicy:
    """Policy for device requests: allowed hosts, trusted CAs and the response size limit."""

    allow_hosts: tuple[str, ...] = ()
    ca_bundle: Path | None = None
    max_response_bytes: int = 64 * 1024

    def allows(self, host: str) -> bool:
        """Check a host against the allow-list; an empty list admits every host."""
        if not self.allow_hosts:
            return True
        host = host.lower()
        return any(fnmatch.fnmatchcase(host, pattern.lower()) for pattern in self.allow_hosts)


def _check(request: ProxyRequest, policy: ProxyPolicy) -> tuple[HttpResult, list[tuple[str, str]]]:
    if request.method not in METHODS:
        return HttpResult.UNSUPPORTEDMETHOD, []
    parts = urlsplit(request.url)
    if parts.scheme != "https" or not parts.hostname:
        return HttpResult.UNSUPPORTEDURISCHEME, []
    if not MIN_TIMEOUT_MS <= request.timeout_ms <= MAX_TIMEOUT_MS:
        return HttpResult.INVALIDTIMEOUT, []
    if len(request.headers) > MAX_HEADERS:
        return HttpResult.INVALIDHEADERS, []
    headers: list[tuple[str, str]] = []
    for line in request.headers:
        name, sep, value = line.partition(":")
        name = name.strip()
        if not sep or not name or any(c in name for c in " \t\r\n") or "\n" in value:
            return HttpResult.INVALIDHEADERS, []
        headers.append((name, value.strip()))
    return HttpResult.OK, headers


def _verify(policy: ProxyPolicy) -> ssl.SSLContext | bool:
    if policy.ca_bundle is None:
        return True
    return ssl.create_default_context(cafile=str(policy.ca_bundle))


async def execute_request(
    request: ProxyRequest, policy: ProxyPolicy, *, device_sid: str = ""
) -> ProxyResponse:
    """Execute a device's HTTP request and return what the app may read."""
    result, headers = _check(request, policy)
    if result is not HttpResult.OK:
        log.info("Rejected device HTTP request (device_sid=%s, result=%s)", device_sid, result.name)
        return ProxyResponse(result)
    host = urlsplit(request.url).hostname or ""
    if not policy.allows(host):
        log.warning(
            "Blocked device HTTP request to host off the allow-list (device_sid=%s, host=%s)",
            device_sid,
            host,
        )
        return ProxyResponse(HttpResult.REQUESTFAILED)

    timeout = request.timeout_ms / 1000
    try:
        async with (
            httpx.AsyncClient(
                verify=_verify(policy), timeout=timeout, follow_redirects=False
            ) as client,
            client.stream(
                request.method, request.url, headers=headers, content=request.body or None
            ) as response,
        ):
            body = bytearray()
            async for chunk in response.aiter_raw():
                body += chunk
                if len(body) > policy.max_response_bytes:
                    log.info(
                        "Dropped oversized HTTP response (device_sid=%s, limit=%d)",
                        device_sid,
                        policy.max_response_bytes,
                    )
                    return ProxyResponse(HttpResult.RESPONSETOOLARGE, response.status_code)
            # Raw headers keep the server's spelling and order of names.
            lines = [
                f"{name.decode('latin-1')}: {value.decode('latin-1')}"
                for name, value in response.headers.raw
            ]
            return ProxyResponse(HttpResult.OK, response.status_code, lines, bytes(body))
    except (httpx.HTTPError, ssl.SSLError, OSError) as exc:
        log.info(
            "Failed device HTTP request (device_sid=%s, host=%s, error=%s)",
            device_sid,
            host,
            type(exc).__name__,
        )
        return ProxyResponse(HttpResult.REQUESTFAILED)
