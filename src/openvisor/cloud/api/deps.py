"""Typed dependencies: service state, sessions, credentials, paging and form values."""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import HTTPConnection

from openvisor.cloud.db import session_scope
from openvisor.cloud.security import SecretBox
from openvisor.cloud.service import ratelimit
from openvisor.cloud.service.accounts import Principal, authenticate
from openvisor.cloud.service.common import CODE_AUTH, PageRequest, forbidden, invalid
from openvisor.cloud.service.httpproxy import ProxyPolicy
from openvisor.cloud.settings import Settings
from openvisor.cloud.signing import CloudSigner
from openvisor.errors import CloudError

log = logging.getLogger(__name__)


@dataclass
class ServiceState:
    """Per-instance state that every request uses, created once at start."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    box: SecretBox
    signer: CloudSigner
    proxy_policy: ProxyPolicy


def get_state(connection: HTTPConnection) -> ServiceState:
    """Return the instance's :class:`ServiceState`."""
    state: ServiceState = connection.app.state.ov
    return state


State = Annotated[ServiceState, Depends(get_state)]


def get_session(state: State) -> Iterator[Session]:
    """Open a session for one request; it commits when the route returns."""
    with session_scope(state.sessions) as session:
        yield session


# scope="function" commits before the response goes out, so a read that a
# client sends right after a write returns the written data.
DbSession = Annotated[Session, Depends(get_session, scope="function")]


def public_base(connection: HTTPConnection) -> str:
    """Return the base URL (without ``/v1``) that links in responses use."""
    state = get_state(connection)
    if state.settings.public_url:
        return state.settings.public_url.rstrip("/")
    return str(connection.base_url).rstrip("/")


def unauthorized(message: str) -> CloudError:
    """Build the 401 error with Twilio's authentication code."""
    return CloudError(message, status=401, code=CODE_AUTH)


def authenticate_connection(connection: HTTPConnection, state: ServiceState) -> Principal:
    """Check the Basic credentials of a request or WebSocket and count it for rate limits."""
    header = connection.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise unauthorized(
            "authentication required: send HTTP Basic credentials "
            "(account SID and auth token, or API key SID and secret)"
        )
    try:
        username, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise unauthorized("malformed Basic credentials: encode 'sid:secret' in base64") from exc
    settings = state.settings
    with session_scope(state.sessions) as session:
        principal = authenticate(session, username, password) if sep else None
    with session_scope(state.sessions) as session:
        if principal is None:
            client = connection.client.host if connection.client else "unknown"
            ratelimit.hit(
                session,
                f"authfail:{client}",
                limit=settings.rate_limit_per_key,
                window_s=settings.rate_limit_window_s,
            )
        else:
            limit = (
                settings.rate_limit_per_device
                if principal.is_device
                else settings.rate_limit_per_key
            )
            ratelimit.hit(
                session,
                f"cred:{principal.sid}",
                limit=limit,
                window_s=settings.rate_limit_window_s,
            )
    if principal is None:
        log.info("Rejected credentials (username=%s)", username[:34])
        raise unauthorized(f"invalid credentials for {username[:34]!r}: check the SID and secret")
    return principal


def get_principal(request: Request, state: State) -> Principal:
    """Authenticate any caller: account, API key or device."""
    return authenticate_connection(request, state)


def get_account_principal(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    """Authenticate a caller acting for an account (not a device)."""
    if principal.is_device:
        raise forbidden(
            f"device {principal.sid} may not use this resource: use account credentials"
        )
    return principal


AnyCaller = Annotated[Principal, Depends(get_principal)]
Caller = Annotated[Principal, Depends(get_account_principal)]


def get_paging(
    page_size: Annotated[int, Query(alias="PageSize", ge=1)] = 50,
    page: Annotated[int, Query(alias="Page", ge=0)] = 0,
    page_token: Annotated[str | None, Query(alias="PageToken")] = None,
) -> PageRequest:
    """Read ``PageSize`` (clamped to 1000), ``Page`` and ``PageToken``."""
    return PageRequest(page_size=min(page_size, 1000), page=page, page_token=page_token)


Paging = Annotated[PageRequest, Depends(get_paging)]


def parse_bool(name: str, value: str | None) -> bool | None:
    """Parse a form boolean: ``True``/``true``/``1`` or ``False``/``false``/``0``."""
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise invalid(f"invalid {name} {value!r}: use true or false")
