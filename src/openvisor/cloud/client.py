"""A small typed REST client for the openvisor cloud (httpx, synchronous).

>>> with CloudClient("http://127.0.0.1:8080", "AC…", "token") as cloud:
...     for device in cloud.list_devices():
...         print(device["sid"], device["presence"]["online"])

Every method returns the JSON object the service sends (snake_case keys)
and raises :class:`openvisor.errors.CloudError` with ``status`` and
``code`` when the service responds with an error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx

from openvisor.errors import CloudError

JSON = dict[str, Any]


def _segment(value: str) -> str:
    return quote(value, safe="")


class CloudClient:
    """Client for one account (or API key) of an openvisor cloud."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=(username, password),
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json"},
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # Transport

    def request(
        self,
        method: str,
        path: str,
        *,
        data: dict[str, str] | None = None,
        params: dict[str, str | int] | None = None,
        files: dict[str, tuple[str, bytes]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request and raise :class:`CloudError` for an error status."""
        try:
            response = self._http.request(
                method, path, data=data, params=params, files=files, headers=headers
            )
        except httpx.HTTPError as exc:
            raise CloudError(
                f"request {method} {self.base_url}{path} failed: {exc}; check the service URL"
            ) from exc
        if response.status_code >= 400:
            raise _error(method, path, response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> JSON:
        body: JSON = self.request(method, path, **kwargs).json()
        return body

    def iterate(
        self, path: str, *, page_size: int = 50, params: dict[str, str] | None = None
    ) -> Iterator[JSON]:
        """Yield every record of a list resource, following ``next_page_url``."""
        query: dict[str, str | int] = {**(params or {}), "PageSize": page_size}
        page = self._json("GET", path, params=query)
        while True:
            yield from page[page["meta"]["key"]]
            next_url = page["meta"].get("next_page_url")
            if not next_url:
                return
            page = self._json("GET", next_url)

    @staticmethod
    def _form(**values: str | bool | None) -> dict[str, str]:
        form: dict[str, str] = {}
        for name, value in values.items():
            if value is None:
                continue
            if isinstance(value, bool):
                form[name] = "true" if value else "false"
            else:
                form[name] = value
        return form

    # Devices

    def provision_device(
        self, public_key: str, *, device_sid: str | None = None, unique_name: str | None = None
    ) -> JSON:
        """Register a device; the result contains ``link_secret``, ``broker`` and the trust key."""
        form = self._form(PublicKey=public_key, DeviceSid=device_sid, UniqueName=unique_name)
        return self._json("POST", "/v1/Provisioning", data=form)

    def list_devices(self, *, tag: str | None = None) -> Iterator[JSON]:
        """Yield the account's devices, optionally those with a tag."""
        return self.iterate("/v1/Devices", params={"Tag": tag} if tag else None)

    def get_device(self, device: str) -> JSON:
        """Fetch a device by SID or unique name."""
        return self._json("GET", f"/v1/Devices/{_segment(device)}")

    def update_device(
        self,
        device: str,
        *,
        unique_name: str | None = None,
        target_app: str | None = None,
        logging_enabled: bool | None = None,
        restart_app: bool | None = None,
    ) -> JSON:
        """Change a device's name, target app, logging or restart it."""
        form = self._form(
            UniqueName=unique_name,
            TargetApp=target_app,
            LoggingEnabled=logging_enabled,
            RestartApp=restart_app,
        )
        return self._json("POST", f"/v1/Devices/{_segment(device)}", data=form)

    def list_tags(self, device: str) -> list[str]:
        """Return a device's tags."""
        tags: list[str] = self._json("GET", f"/v1/Devices/{_segment(device)}/Tags")["tags"]
        return tags

    def add_tag(self, device: str, tag: str) -> None:
        """Tag a device."""
        self.request("POST", f"/v1/Devices/{_segment(device)}/Tags", data={"Tag": tag})

    def remove_tag(self, device: str, tag: str) -> None:
        """Remove a tag from a device."""
        self.request("DELETE", f"/v1/Devices/{_segment(device)}/Tags/{_segment(tag)}")

    # Configs and secrets (device=None means account scope)

    def _store_path(self, store: str, device: str | None) -> str:
        prefix = f"/v1/Devices/{_segment(device)}" if device else "/v1"
        return f"{prefix}/{store}"

    def list_configs(self, *, device: str | None = None) -> Iterator[JSON]:
        """Yield configs (with values) of the account or a device."""
        return self.iterate(self._store_path("Configs", device))

    def set_config(self, key: str, value: str, *, device: str | None = None) -> JSON:
        """Create a config, or update it when the key exists."""
        return self._put("Configs", key, value, device)

    def delete_config(self, key: str, *, device: str | None = None) -> None:
        """Delete a config."""
        self.request("DELETE", f"{self._store_path('Configs', device)}/{_segment(key)}")

    def list_secrets(self, *, device: str | None = None) -> Iterator[JSON]:
        """Yield secrets (keys and dates, never values) of the account or a device."""
        return self.iterate(self._store_path("Secrets", device))

    def set_secret(self, key: str, value: str, *, device: str | None = None) -> JSON:
        """Create a secret, or rotate it when the key exists."""
        return self._put("Secrets", key, value, device)

    def delete_secret(self, key: str, *, device: str | None = None) -> None:
        """Delete a secret."""
        self.request("DELETE", f"{self._store_path('Secrets', device)}/{_segment(key)}")

    def _put(self, store: str, key: str, value: str, device: str | None) -> JSON:
        path = self._store_path(store, device)
        try:
            return self._json("POST", path, data={"Key": key, "Value": value})
        except CloudError as exc:
            if exc.status != 409:
                raise
        return self._json("POST", f"{path}/{_segment(key)}", data={"Value": value})

    # Apps

    def upload_bundle(self, bundle: bytes | Path, *, unique_name: str | None = None) -> JSON:
        """Upload a bundle zip; the cloud signs an unsigned manifest and returns the app."""
        data = bundle.read_bytes() if isinstance(bundle, Path) else bundle
        form = self._form(UniqueName=unique_name)
        return self._json("POST", "/v1/Apps", data=form, files={"File": ("bundle.zip", data)})

    def list_apps(self) -> Iterator[JSON]:
        """Yield the account's apps."""
        return self.iterate("/v1/Apps")

    def get_app(self, app: str) -> JSON:
        """Fetch an app by SID or unique name."""
        return self._json("GET", f"/v1/Apps/{_segment(app)}")

    def get_manifest(self, app: str) -> JSON:
        """Fetch an app's signed manifest (base64 in ``encoded_bytes``)."""
        return self._json("GET", f"/v1/Apps/{_segment(app)}/Manifest")

    def download_bundle(self, app: str) -> bytes:
        """Download an app's signed bundle zip."""
        return self.request("GET", f"/v1/Apps/{_segment(app)}/Bundle").content

    def delete_app(self, app: str) -> None:
        """Delete an app."""
        self.request("DELETE", f"/v1/Apps/{_segment(app)}")

    # Deployments

    def create_deployment(
        self, app: str, *, target_type: str = "device", target: str | None = None
    ) -> JSON:
        """Deploy an app to a device, a tag or the fleet (``target_type`` fleet)."""
        form = self._form(App=app, TargetType=target_type, Target=target)
        return self._json("POST", "/v1/Deployments", data=form)

    def get_deployment(self, deployment_sid: str) -> JSON:
        """Fetch a deployment."""
        return self._json("GET", f"/v1/Deployments/{deployment_sid}")

    def list_deployments(self) -> Iterator[JSON]:
        """Yield the account's deployments, newest first."""
        return self.iterate("/v1/Deployments")

    def list_deployment_devices(self, deployment_sid: str) -> Iterator[JSON]:
        """Yield the per-device status of a deployment."""
        return self.iterate(f"/v1/Deployments/{deployment_sid}/Devices")

    def cancel_deployment(self, deployment_sid: str) -> JSON:
        """Cancel a deployment."""
        return self._json("POST", f"/v1/Deployments/{deployment_sid}", data={"Status": "cancelled"})

    # Logs, reports, debug sessions

    def list_logs(self, device: str, *, after: int | None = None) -> Iterator[JSON]:
        """Yield a device's stored logs, oldest first."""
        params = {"After": str(after)} if after is not None else None
        return self.iterate(f"/v1/Devices/{_segment(device)}/Logs", params=params, page_size=500)

    def stream_logs(self, device: str, *, after: int | None = None) -> Iterator[JSON]:
        """Yield new logs as they arrive (server-sent events) until the caller stops."""
        params = {"After": str(after)} if after is not None else None
        path = f"/v1/Devices/{_segment(device)}/Logs/Stream"
        with self._http.stream("GET", path, params=params, timeout=None) as response:
            if response.status_code >= 400:
                response.read()
                raise _error("GET", path, response)
            for line in response.iter_lines():
                if line.startswith("data:"):
                    yield json.loads(line[5:].strip())

    def list_crash_reports(self, device: str) -> Iterator[JSON]:
        """Yield a device's crash reports, newest first."""
        return self.iterate(f"/v1/Devices/{_segment(device)}/CrashReports")

    def list_update_outcomes(self, device: str) -> Iterator[JSON]:
        """Yield a device's update outcomes, newest first."""
        return self.iterate(f"/v1/Devices/{_segment(device)}/UpdateOutcomes")

    def open_debug_session(self, device: str, *, client_public_key: str = "") -> JSON:
        """Record a new debug session for a device."""
        form = self._form(ClientPublicKey=client_public_key or None)
        return self._json("POST", f"/v1/Devices/{_segment(device)}/DebugSessions", data=form)

    def close_debug_session(self, device: str, session_sid: str) -> JSON:
        """Close a debug session."""
        return self._json("DELETE", f"/v1/Devices/{_segment(device)}/DebugSessions/{session_sid}")

    # Keys and accounts

    def create_key(self, friendly_name: str = "") -> JSON:
        """Create an API key; the result's ``secret`` is shown only once."""
        return self._json("POST", "/v1/Keys", data=self._form(FriendlyName=friendly_name))

    def list_keys(self) -> Iterator[JSON]:
        """Yield the account's API keys."""
        return self.iterate("/v1/Keys")

    def delete_key(self, key_sid: str) -> None:
        """Delete an API key."""
        self.request("DELETE", f"/v1/Keys/{key_sid}")

    def create_account(self, friendly_name: str = "") -> JSON:
        """Create an account (admin only); the result's ``auth_token`` is shown only once."""
        return self._json("POST", "/v1/Accounts", data=self._form(FriendlyName=friendly_name))

    def health(self) -> JSON:
        """Return ``/healthz``."""
        body: JSON = self._http.get("/healthz").json()
        return body


def _error(method: str, path: str, response: httpx.Response) -> CloudError:
    try:
        body = response.json()
        message = str(body.get("message", response.text))
        code = int(body.get("code", response.status_code))
    except (ValueError, AttributeError):
        message, code = response.text[:200], response.status_code
    return CloudError(
        f"{method} {path} failed with HTTP {response.status_code}: {message}",
        status=response.status_code,
        code=code,
    )
