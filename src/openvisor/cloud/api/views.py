"""JSON views of SQL rows: snake_case fields, absolute URLs, second-precision UTC dates.

Secret rows have no view with a ``value``: :func:`secret_view` is the
only way a secret leaves the service through the API.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, urlencode

from starlette.datastructures import URL

from openvisor.cloud.models import (
    ApiKey,
    App,
    ConfigEntry,
    CrashReport,
    DebugSession,
    Deployment,
    DeploymentDevice,
    Device,
    DeviceRecord,
    LogEntry,
    UpdateOutcome,
)
from openvisor.cloud.service.common import PageResult, encode_page_token
from openvisor.cloud.service.devices import logging_enabled

T = TypeVar("T")
JSON = dict[str, Any]


def iso(value: datetime | None) -> str | None:
    """Format a UTC time as ``YYYY-MM-DDTHH:MM:SSZ``, the only form the SDK parses."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def segment(value: str) -> str:
    """Percent-encode one path segment of a link."""
    return quote(value, safe="")


def device_view(
    base: str, device: Device, app_hash: str | None = None, tags: Sequence[str] = ()
) -> JSON:
    """View of a device in the Microvisor shape, plus presence and tags."""
    url = f"{base}/v1/Devices/{device.sid}"
    return {
        "sid": device.sid,
        "unique_name": device.unique_name,
        "account_sid": device.account_sid,
        "app": {
            "target_sid": device.target_app_sid,
            "target_hash": app_hash,
            "date_targeted": iso(device.date_targeted),
            "update_status": device.update_status,
            "update_error_code": device.update_error_code,
            "reported_sid": device.reported_app_sid,
            "date_reported": iso(device.date_reported),
        },
        "logging": {
            "enabled": logging_enabled(device),
            "date_expires": iso(device.logging_expires),
        },
        "presence": {"online": device.online, "date_last_seen": iso(device.date_last_seen)},
        "tags": list(tags),
        "date_created": iso(device.date_created),
        "date_updated": iso(device.date_updated),
        "url": url,
        "links": {
            "device_configs": f"{url}/Configs",
            "device_secrets": f"{url}/Secrets",
            "logs": f"{url}/Logs",
            "tags": f"{url}/Tags",
            "crash_reports": f"{url}/CrashReports",
            "update_outcomes": f"{url}/UpdateOutcomes",
            "debug_sessions": f"{url}/DebugSessions",
        },
    }


def config_view(base: str, entry: ConfigEntry) -> JSON:
    """View of an account or device config, with its value."""
    view: JSON = {"key": entry.key, "value": entry.value, "date_updated": iso(entry.date_updated)}
    if entry.owner_sid.startswith("UV"):
        view["device_sid"] = entry.owner_sid
        view["url"] = f"{base}/v1/Devices/{entry.owner_sid}/Configs/{segment(entry.key)}"
    else:
        view["url"] = f"{base}/v1/Configs/{segment(entry.key)}"
    return view


def secret_view(base: str, entry: ConfigEntry) -> JSON:
    """View of an account or device secret: never the value."""
    view: JSON = {"key": entry.key, "date_rotated": iso(entry.date_updated)}
    if entry.owner_sid.startswith("UV"):
        view["device_sid"] = entry.owner_sid
        view["url"] = f"{base}/v1/Devices/{entry.owner_sid}/Secrets/{segment(entry.key)}"
    else:
        view["url"] = f"{base}/v1/Secrets/{segment(entry.key)}"
    return view


def app_view(base: str, app: App) -> JSON:
    """View of an app."""
    url = f"{base}/v1/Apps/{app.sid}"
    return {
        "sid": app.sid,
        "account_sid": app.account_sid,
        "hash": app.hash,
        "unique_name": app.unique_name,
        "date_created": iso(app.date_created),
        "date_updated": iso(app.date_updated),
        "url": url,
        "links": {"app_manifests": f"{url}/Manifest", "bundle": f"{url}/Bundle"},
    }


def manifest_view(base: str, app: App) -> JSON:
    """View of an app's signed manifest."""
    return {
        "app_sid": app.sid,
        "hash": app.hash,
        "encoded_bytes": base64.b64encode(app.manifest).decode(),
        "url": f"{base}/v1/Apps/{app.sid}/Manifest",
    }


def key_view(base: str, key: ApiKey, secret: str | None = None) -> JSON:
    """View of an API key; the secret appears only in the response that creates it."""
    view: JSON = {
        "sid": key.sid,
        "account_sid": key.account_sid,
        "friendly_name": key.friendly_name,
        "date_created": iso(key.date_created),
        "url": f"{base}/v1/Keys/{key.sid}",
    }
    if secret is not None:
        view["secret"] = secret
    return view


def deployment_view(base: str, deployment: Deployment) -> JSON:
    """View of a deployment."""
    url = f"{base}/v1/Deployments/{deployment.sid}"
    return {
        "sid": deployment.sid,
        "account_sid": deployment.account_sid,
        "app_sid": deployment.app_sid,
        "target_type": deployment.target_type,
        "target": deployment.target,
        "status": deployment.status,
        "date_created": iso(deployment.date_created),
        "date_updated": iso(deployment.date_updated),
        "url": url,
        "links": {"devices": f"{url}/Devices"},
    }


def deployment_device_view(base: str, row: DeploymentDevice) -> JSON:
    """View of one device's status in a deployment."""
    return {
        "deployment_sid": row.deployment_sid,
        "device_sid": row.device_sid,
        "status": row.status,
        "error_code": row.error_code,
        "date_updated": iso(row.date_updated),
        "url": f"{base}/v1/Deployments/{row.deployment_sid}/Devices/{row.device_sid}",
    }


def log_view(entry: LogEntry) -> JSON:
    """View of one log line; ``id`` orders lines and resumes streams."""
    return {
        "id": entry.id,
        "device_sid": entry.device_sid,
        "seq": entry.seq,
        "message": entry.message,
        "date_logged": iso(entry.date_logged),
        "date_received": iso(entry.date_received),
    }


def _device_record_view(base: str, record: DeviceRecord, collection: str, fields: JSON) -> JSON:
    """View of a record under ``/v1/Devices/{sid}/<collection>``: ids, ``fields`` and url."""
    return {
        "sid": record.sid,
        "account_sid": record.account_sid,
        "device_sid": record.device_sid,
        **fields,
        "url": f"{base}/v1/Devices/{record.device_sid}/{collection}/{record.sid}",
    }


def crash_view(base: str, record: CrashReport) -> JSON:
    """View of a crash report."""
    fields = {
        "app_sid": record.app_sid,
        "report": json.loads(record.report),
        "date_created": iso(record.date_created),
    }
    return _device_record_view(base, record, "CrashReports", fields)


def outcome_view(base: str, record: UpdateOutcome) -> JSON:
    """View of an update outcome."""
    fields = {
        "app_sid": record.app_sid,
        "deployment_sid": record.deployment_sid,
        "outcome": record.outcome,
        "error_code": record.error_code,
        "detail": record.detail,
        "date_created": iso(record.date_created),
    }
    return _device_record_view(base, record, "UpdateOutcomes", fields)


def debug_session_view(base: str, record: DebugSession) -> JSON:
    """View of a debug session record."""
    fields = {
        "status": record.status,
        "date_created": iso(record.date_created),
        "date_ended": iso(record.date_ended),
    }
    return _device_record_view(base, record, "DebugSessions", fields)


def page_view(
    base: str,
    url: URL,
    key: str,
    result: PageResult[T],
    render: Callable[[T], JSON],
) -> JSON:
    """Wrap one page in the list envelope, with absolute page links under ``base``."""
    extra = [
        (name, value)
        for name, value in parse_qsl(url.query, keep_blank_values=True)
        if name not in ("PageSize", "Page", "PageToken")
    ]
    path = f"{base}{url.path}"
    size = result.page_size

    def link(page: int, token: str | None) -> str:
        params = [*extra, ("PageSize", str(size)), ("Page", str(page))]
        if token is not None:
            params.append(("PageToken", token))
        return f"{path}?{urlencode(params)}"

    previous = None
    if result.offset > 0:
        previous_offset = max(result.offset - size, 0)
        previous = link(previous_offset // size, encode_page_token(previous_offset))
    next_url = None
    if result.has_next:
        next_url = link(result.page + 1, encode_page_token(result.offset + size))
    return {
        key: [render(item) for item in result.items],
        "meta": {
            "page": result.page,
            "page_size": size,
            "first_page_url": link(0, None),
            "previous_page_url": previous,
            "url": link(result.page, encode_page_token(result.offset) if result.offset else None),
            "next_page_url": next_url,
            "key": key,
        },
    }
