"""Account and device Configs and Secrets (compatible resources).

Secrets are write-only: their routes render through ``secret_view``,
which has no value field.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from openvisor.cloud.api.deps import Caller, DbSession, Paging, State, public_base
from openvisor.cloud.api.responses import json_response, no_content
from openvisor.cloud.api.views import config_view, page_view, secret_view
from openvisor.cloud.models import ConfigEntry
from openvisor.cloud.service import configs, devices
from openvisor.cloud.service.accounts import Principal
from openvisor.cloud.service.common import invalid

router = APIRouter(prefix="/v1")

KeyForm = Annotated[str, Form(alias="Key")]
ValueForm = Annotated[str | None, Form(alias="Value")]


def _owner(session: Session, caller: Principal, device: str | None) -> str:
    if device is None:
        return caller.account_sid
    return devices.get_device(session, caller.account_sid, device).sid


def _render(store: str, base: str, entry: ConfigEntry) -> dict[str, object]:
    return secret_view(base, entry) if store == configs.SECRET else config_view(base, entry)


def _require_value(value: str | None) -> str:
    if value is None:
        raise invalid("missing Value: send the value as form field Value")
    return value


def _list(
    request: Request,
    caller: Principal,
    session: Session,
    paging: Paging,
    store: str,
    device: str | None,
) -> JSONResponse:
    owner = _owner(session, caller, device)
    result = configs.list_entries(session, caller.account_sid, owner, store, paging)
    base = public_base(request)
    key = "secrets" if store == configs.SECRET else "configs"
    return json_response(
        page_view(base, request.url, key, result, lambda e: _render(store, base, e))
    )


def _fetch(
    request: Request, caller: Principal, session: Session, store: str, device: str | None, key: str
) -> JSONResponse:
    owner = _owner(session, caller, device)
    entry = configs.get_entry(session, caller.account_sid, owner, store, key)
    return json_response(_render(store, public_base(request), entry))


def _create(
    request: Request,
    caller: Principal,
    session: Session,
    state: State,
    store: str,
    device: str | None,
    key: str,
    value: str | None,
) -> JSONResponse:
    owner = _owner(session, caller, device)
    entry = configs.create_entry(
        session,
        caller.account_sid,
        owner,
        store,
        key=key,
        value=_require_value(value),
        box=state.box,
    )
    return json_response(_render(store, public_base(request), entry), status=201)


def _update(
    request: Request,
    caller: Principal,
    session: Session,
    state: State,
    store: str,
    device: str | None,
    key: str,
    value: str | None,
) -> JSONResponse:
    owner = _owner(session, caller, device)
    entry = configs.update_entry(
        session,
        caller.account_sid,
        owner,
        store,
        key=key,
        value=_require_value(value),
        box=state.box,
    )
    return json_response(_render(store, public_base(request), entry))


def _delete(
    caller: Principal, session: Session, store: str, device: str | None, key: str
) -> Response:
    owner = _owner(session, caller, device)
    configs.delete_entry(session, caller.account_sid, owner, store, key)
    return no_content()


# Account Configs


@router.get("/Configs", tags=["Account Configs"])
def list_account_configs(
    request: Request, caller: Caller, session: DbSession, paging: Paging
) -> JSONResponse:
    """List the account's configs."""
    return _list(request, caller, session, paging, configs.CONFIG, None)


@router.post("/Configs", status_code=201, tags=["Account Configs"])
def create_account_config(
    request: Request,
    caller: Caller,
    session: DbSession,
    state: State,
    key: KeyForm,
    value: ValueForm = None,
) -> JSONResponse:
    """Create an account config."""
    return _create(request, caller, session, state, configs.CONFIG, None, key, value)


@router.get("/Configs/{key}", tags=["Account Configs"])
def fetch_account_config(
    request: Request, key: str, caller: Caller, session: DbSession
) -> JSONResponse:
    """Fetch an account config."""
    return _fetch(request, caller, session, configs.CONFIG, None, key)


@router.post("/Configs/{key}", tags=["Account Configs"])
def update_account_config(
    request: Request,
    key: str,
    caller: Caller,
    session: DbSession,
    state: State,
    value: ValueForm = None,
) -> JSONResponse:
    """Update an account config."""
    return _update(request, caller, session, state, configs.CONFIG, None, key, value)


@router.delete("/Configs/{key}", status_code=204, tags=["Account Configs"])
def delete_account_config(key: str, caller: Caller, session: DbSession) -> Response:
    """Delete an account config."""
    return _delete(caller, session, configs.CONFIG, None, key)


# Account Secrets


@router.get("/Secrets", tags=["Account Secrets"])
def list_account_secrets(
    request: Request, caller: Caller, session: DbSession, paging: Paging
) -> JSONResponse:
    """List the account's secrets (keys and dates only)."""
    return _list(request, caller, session, paging, configs.SECRET, None)


@router.post("/Secrets", status_code=201, tags=["Account Secrets"])
def create_account_secret(
    request: Request,
    caller: Caller,
    session: DbSession,
    state: State,
    key: KeyForm,
    value: ValueForm = None,
) -> JSONResponse:
    """Create an account secret."""
    return _create(request, caller, session, state, configs.SECRET, None, key, value)


@router.get("/Secrets/{key}", tags=["Account Secrets"])
def fetch_account_secret(
    request: Request, key: str, caller: Caller, session: DbSession
) -> JSONResponse:
    """Fetch an account secret's key and date (never its value)."""
    return _fetch(request, caller, session, configs.SECRET, None, key)


@router.post("/Secrets/{key}", tags=["Account Secrets"])
def update_account_secret(
    request: Request,
    key: str,
    caller: Caller,
    session: DbSession,
    state: State,
    value: ValueForm = None,
) -> JSONResponse:
    """Rotate an account secret's value."""
    return _update(request, caller, session, state, configs.SECRET, None, key, value)


@router.delete("/Secrets/{key}", status_code=204, tags=["Account Secrets"])
def delete_account_secret(key: str, caller: Caller, session: DbSession) -> Response:
    """Delete an account secret."""
    return _delete(caller, session, configs.SECRET, None, key)


# Device Configs


@router.get("/Devices/{sid}/Configs", tags=["Device Configs"])
def list_device_configs(
    request: Request, sid: str, caller: Caller, session: DbSession, paging: Paging
) -> JSONResponse:
    """List a device's configs."""
    return _list(request, caller, session, paging, configs.CONFIG, sid)


@router.post("/Devices/{sid}/Configs", status_code=201, tags=["Device Configs"])
def create_device_config(
    request: Request,
    sid: str,
    caller: Caller,
    session: DbSession,
    state: State,
    key: KeyForm,
    value: ValueForm = None,
) -> JSONResponse:
    """Create a device config."""
    return _create(request, caller, session, state, configs.CONFIG, sid, key, value)


@router.get("/Devices/{sid}/Configs/{key}", tags=["Device Configs"])
def fetch_device_config(
    request: Request, sid: str, key: str, caller: Caller, session: DbSession
) -> JSONResponse:
    """Fetch a device config."""
    return _fetch(request, caller, session, configs.CONFIG, sid, key)


@router.post("/Devices/{sid}/Configs/{key}", tags=["Device Configs"])
def update_device_config(
    request: Request,
    sid: str,
    key: str,
    caller: Caller,
    session: DbSession,
    state: State,
    value: ValueForm = None,
) -> JSONResponse:
    """Update a device config."""
    return _update(request, caller, session, state, configs.CONFIG, sid, key, value)


@router.delete("/Devices/{sid}/Configs/{key}", status_code=204, tags=["Device Configs"])
def delete_device_config(sid: str, key: str, caller: Caller, session: DbSession) -> Response:
    """Delete a device config."""
    return _delete(caller, session, configs.CONFIG, sid, key)


# Device Secrets


@router.get("/Devices/{sid}/Secrets", tags=["Device Secrets"])
def list_device_secrets(
    request: Request, sid: str, caller: Caller, session: DbSession, paging: Paging
) -> JSONResponse:
    """List a device's secrets (keys and dates only)."""
    return _list(request, caller, session, paging, configs.SECRET, sid)


@router.post("/Devices/{sid}/Secrets", status_code=201, tags=["Device Secrets"])
def create_device_secret(
    request: Request,
    sid: str,
    caller: Caller,
    session: DbSession,
    state: State,
    key: KeyForm,
    value: ValueForm = None,
) -> JSONResponse:
    """Create a device secret."""
    return _create(request, caller, session, state, configs.SECRET, sid, key, value)


@router.get("/Devices/{sid}/Secrets/{key}", tags=["Device Secrets"])
def fetch_device_secret(
    request: Request, sid: str, key: str, caller: Caller, session: DbSession
) -> JSONResponse:
    """Fetch a device secret's key and date (never its value)."""
    return _fetch(request, caller, session, configs.SECRET, sid, key)


@router.post("/Devices/{sid}/Secrets/{key}", tags=["Device Secrets"])
def update_device_secret(
    request: Request,
    sid: str,
    key: str,
    caller: Caller,
    session: DbSession,
    state: State,
    value: ValueForm = None,
) -> JSONResponse:
    """Rotate a device secret's value."""
    return _update(request, caller, session, state, configs.SECRET, sid, key, value)


@router.delete("/Devices/{sid}/Secrets/{key}", status_code=204, tags=["Device Secrets"])
def delete_device_secret(sid: str, key: str, caller: Caller, session: DbSession) -> Response:
    """Delete a device secret."""
    return _delete(caller, session, configs.SECRET, sid, key)
