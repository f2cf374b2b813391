"""Account and device Configs and Secrets (compatible resources).

The four collections share one set of handlers: :func:`_add_collection`
registers list, create, fetch, update and delete for one store at one
scope. Secrets are write-only: their routes render through ``secret_view``,
which has no value field.
"""

# No ``from __future__ import annotations`` here: FastAPI resolves string
# annotations in the module's globals, and the handlers below annotate with
# a dependency that each call of ``_add_collection`` picks.

from collections.abc import Callable
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from openvisor.cloud.api.deps import (
    Caller,
    DbSession,
    Paging,
    ServiceState,
    State,
    public_base,
)
from openvisor.cloud.api.responses import json_response, no_content, page_response
from openvisor.cloud.api.views import config_view, secret_view
from openvisor.cloud.models import ConfigEntry
from openvisor.cloud.service import configs, devices
from openvisor.cloud.service.accounts import Principal
from openvisor.cloud.service.common import invalid

router = APIRouter(prefix="/v1")

KeyForm = Annotated[str, Form(alias="Key")]
ValueForm = Annotated[str | None, Form(alias="Value")]

# Route descriptions by store and operation. ``{owner}`` is "the account's" or
# "a device's", and ``{one}`` is "an account" or "a device".
_DESCRIPTIONS = {
    (configs.CONFIG, "list"): "List {owner} configs.",
    (configs.CONFIG, "create"): "Create {one} config.",
    (configs.CONFIG, "fetch"): "Fetch {one} config.",
    (configs.CONFIG, "update"): "Update {one} config.",
    (configs.CONFIG, "delete"): "Delete {one} config.",
    (configs.SECRET, "list"): "List {owner} secrets (keys and dates only).",
    (configs.SECRET, "create"): "Create {one} secret.",
    (configs.SECRET, "fetch"): "Fetch {one} secret's key and date (never its value).",
    (configs.SECRET, "update"): "Rotate {one} secret's value.",
    (configs.SECRET, "delete"): "Delete {one} secret.",
}


def _account_scope() -> str | None:
    """Return no device SID: the route addresses the caller's account store."""
    return None


def _device_scope(sid: str) -> str | None:
    """Return the device SID or unique name from the ``{sid}`` path segment."""
    return sid


def _path_key(key: str) -> str:
    """Return the ``{key}`` path segment.

    As a dependency it follows the scope dependency, so OpenAPI lists the
    ``sid`` path parameter before ``key``.
    """
    return key


EntryKey = Annotated[str, Depends(_path_key)]


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


def _write(
    write: Callable[..., ConfigEntry],
    request: Request,
    caller: Principal,
    session: Session,
    state: ServiceState,
    store: str,
    device: str | None,
    key: str,
    value: str | None,
    status: int,
) -> JSONResponse:
    """Create or update an entry with ``configs.create_entry`` or ``configs.update_entry``."""
    owner = _owner(session, caller, device)
    entry = write(
        session,
        caller.account_sid,
        owner,
        store,
        key=key,
        value=_require_value(value),
        box=state.box,
    )
    return json_response(_render(store, public_base(request), entry), status=status)


def _add_collection(store: str, scope: str) -> None:
    """Register the five routes of one store (config or secret) at one scope."""
    noun = "secret" if store == configs.SECRET else "config"
    collection = f"{noun[0].upper()}{noun[1:]}s"
    if scope == "device":
        path = f"/Devices/{{sid}}/{collection}"
        scope_dependency: Callable[..., str | None] = _device_scope
        words = {"owner": "a device's", "one": "a device"}
    else:
        path = f"/{collection}"
        scope_dependency = _account_scope
        words = {"owner": "the account's", "one": "an account"}
    OwnerDevice = Annotated[str | None, Depends(scope_dependency)]
    tag = f"{scope.title()} {collection}"

    def list_entries(
        request: Request, device: OwnerDevice, caller: Caller, session: DbSession, paging: Paging
    ) -> JSONResponse:
        owner = _owner(session, caller, device)
        result = configs.list_entries(session, caller.account_sid, owner, store, paging)
        return page_response(request, f"{noun}s", result, partial(_render, store))

    def create_entry(
        request: Request,
        device: OwnerDevice,
        caller: Caller,
        session: DbSession,
        state: State,
        key: KeyForm,
        value: ValueForm = None,
    ) -> JSONResponse:
        return _write(
            configs.create_entry, request, caller, session, state, store, device, key, value, 201
        )

    def fetch_entry(
        request: Request, device: OwnerDevice, key: EntryKey, caller: Caller, session: DbSession
    ) -> JSONResponse:
        owner = _owner(session, caller, device)
        entry = configs.get_entry(session, caller.account_sid, owner, store, key)
        return json_response(_render(store, public_base(request), entry))

    def update_entry(
        request: Request,
        device: OwnerDevice,
        key: EntryKey,
        caller: Caller,
        session: DbSession,
        state: State,
        value: ValueForm = None,
    ) -> JSONResponse:
        return _write(
            configs.update_entry, request, caller, session, state, store, device, key, value, 200
        )

    def delete_entry(
        device: OwnerDevice, key: EntryKey, caller: Caller, session: DbSession
    ) -> Response:
        owner = _owner(session, caller, device)
        configs.delete_entry(session, caller.account_sid, owner, store, key)
        return no_content()

    routes: list[tuple[str, str, str, Callable[..., Response], int | None]] = [
        ("list", "GET", path, list_entries, None),
        ("create", "POST", path, create_entry, 201),
        ("fetch", "GET", f"{path}/{{key}}", fetch_entry, None),
        ("update", "POST", f"{path}/{{key}}", update_entry, None),
        ("delete", "DELETE", f"{path}/{{key}}", delete_entry, 204),
    ]
    for operation, method, route_path, endpoint, status_code in routes:
        # The name fixes the OpenAPI operation id and summary, e.g. list_device_secrets.
        name = f"{operation}_{scope}_{noun}{'s' if operation == 'list' else ''}"
        router.add_api_route(
            route_path,
            endpoint,
            methods=[method],
            name=name,
            status_code=status_code,
            tags=[tag],
            description=_DESCRIPTIONS[(store, operation)].format(**words),
        )


for _scope in ("account", "device"):
    for _store in (configs.CONFIG, configs.SECRET):
        _add_collection(_store, _scope)
