"""API keys of an account, and accounts (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import JSONResponse

from openvisor.cloud.api.deps import Caller, DbSession, Paging, public_base
from openvisor.cloud.api.responses import json_response, no_content, page_response
from openvisor.cloud.api.views import JSON, iso, key_view
from openvisor.cloud.models import Account
from openvisor.cloud.service import accounts
from openvisor.cloud.service.common import forbidden

router = APIRouter(prefix="/v1")


@router.get("/Keys", tags=["Keys"])
def list_keys(request: Request, caller: Caller, session: DbSession, paging: Paging) -> JSONResponse:
    """List the account's API keys (never their secrets)."""
    result = accounts.list_api_keys(session, caller.account_sid, paging)
    return page_response(request, "keys", result, key_view)


@router.post("/Keys", status_code=201, tags=["Keys"])
def create_key(
    request: Request,
    caller: Caller,
    session: DbSession,
    friendly_name: Annotated[str, Form(alias="FriendlyName")] = "",
) -> JSONResponse:
    """Create an API key; the response is the only place its secret appears."""
    key, secret = accounts.create_api_key(session, caller.account_sid, friendly_name=friendly_name)
    return json_response(key_view(public_base(request), key, secret), status=201)


@router.get("/Keys/{sid}", tags=["Keys"])
def fetch_key(request: Request, sid: str, caller: Caller, session: DbSession) -> JSONResponse:
    """Fetch an API key (never its secret)."""
    key = accounts.get_api_key(session, caller.account_sid, sid)
    return json_response(key_view(public_base(request), key))


@router.delete("/Keys/{sid}", status_code=204, tags=["Keys"])
def delete_key(sid: str, caller: Caller, session: DbSession) -> Response:
    """Delete an API key."""
    accounts.delete_api_key(session, caller.account_sid, sid)
    return no_content()


def _account_view(base: str, account: Account, token: str | None = None) -> JSON:
    view: JSON = {
        "sid": account.sid,
        "friendly_name": account.friendly_name,
        "is_admin": account.is_admin,
        "date_created": iso(account.date_created),
        "url": f"{base}/v1/Accounts/{account.sid}",
    }
    if token is not None:
        view["auth_token"] = token
    return view


@router.get("/Accounts", tags=["Accounts"])
def list_accounts(
    request: Request, caller: Caller, session: DbSession, paging: Paging
) -> JSONResponse:
    """List all accounts (admin account only)."""
    if not caller.is_admin:
        raise forbidden("only the admin account may list accounts: use its SID and auth token")
    result = accounts.list_accounts(session, paging)
    return page_response(request, "accounts", result, _account_view)


@router.post("/Accounts", status_code=201, tags=["Accounts"])
def create_account(
    request: Request,
    caller: Caller,
    session: DbSession,
    friendly_name: Annotated[str, Form(alias="FriendlyName")] = "",
) -> JSONResponse:
    """Create an account (admin account only); the response is the only place its token appears."""
    if not caller.is_admin:
        raise forbidden("only the admin account may create accounts: use its SID and auth token")
    account, token = accounts.create_account(session, friendly_name=friendly_name)
    return json_response(_account_view(public_base(request), account, token), status=201)
