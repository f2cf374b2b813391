"""Authorisation matrix: no account or device reaches another's data."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from openvisor.cloud.service import logs, reports


@pytest.fixture(scope="module")
def tenants(service: Any, helpers: Any, http: httpx.Client, db_sessions: Any) -> dict[str, Any]:
    """Two accounts, each with a device, configs, secrets, an app, a deployment and records."""
    result: dict[str, Any] = {}
    for name in ("alpha", "beta"):
        account = helpers.create_account(service.url, name)
        device = helpers.provision(service.url, account, f"{name}-device")
        app = helpers.upload(service.url, account, helpers.build_bundle(), UniqueName=f"{name}-app")
        app_sid = app.json()["sid"]
        auth = account.auth
        http.post("/v1/Configs", auth=auth, data={"Key": "shared-key", "Value": name})
        http.post("/v1/Secrets", auth=auth, data={"Key": "shared-key", "Value": name + "-secret"})
        http.post(
            f"/v1/Devices/{device['sid']}/Configs", auth=auth, data={"Key": "k", "Value": name}
        )
        http.post(
            f"/v1/Devices/{device['sid']}/Secrets", auth=auth, data={"Key": "k", "Value": name}
        )
        http.post(f"/v1/Devices/{device['sid']}/Tags", auth=auth, data={"Tag": "t"})
        deployment = http.post(
            "/v1/Deployments",
            auth=auth,
            data={"App": app_sid, "TargetType": "device", "Target": device["sid"]},
        ).json()
        key = http.post("/v1/Keys", auth=auth).json()
        debug = http.post(f"/v1/Devices/{device['sid']}/DebugSessions", auth=auth).json()
        with db_sessions() as session:
            logs.append_logs(session, device["sid"], [logs.LogRecord(f"{name} log", seq=1)])
            crash_sid = reports.record_crash(session, device["sid"], {"kind": name}).sid
        result[name] = {
            "account": account,
            "device": device,
            "app": app_sid,
            "deployment": deployment["sid"],
            "key": key,
            "debug": debug["sid"],
            "crash": crash_sid,
        }
    return result


def _urls(owner: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    device = owner["device"]["sid"]
    name = owner["device"]["unique_name"]
    app = owner["app"]
    return [
        ("GET", f"/v1/Devices/{device}", {}),
        ("GET", f"/v1/Devices/{name}", {}),
        ("POST", f"/v1/Devices/{device}", {"UniqueName": "stolen"}),
        ("GET", f"/v1/Devices/{device}/Configs", {}),
        ("POST", f"/v1/Devices/{device}/Configs", {"Key": "x", "Value": "y"}),
        ("GET", f"/v1/Devices/{device}/Configs/k", {}),
        ("POST", f"/v1/Devices/{device}/Configs/k", {"Value": "y"}),
        ("DELETE", f"/v1/Devices/{device}/Configs/k", {}),
        ("GET", f"/v1/Devices/{device}/Secrets", {}),
        ("POST", f"/v1/Devices/{device}/Secrets", {"Key": "x", "Value": "y"}),
        ("GET", f"/v1/Devices/{device}/Secrets/k", {}),
        ("POST", f"/v1/Devices/{device}/Secrets/k", {"Value": "y"}),
        ("DELETE", f"/v1/Devices/{device}/Secrets/k", {}),
        ("GET", f"/v1/Devices/{device}/Tags", {}),
        ("POST", f"/v1/Devices/{device}/Tags", {"Tag": "x"}),
        ("DELETE", f"/v1/Devices/{device}/Tags/t", {}),
        ("GET", f"/v1/Devices/{device}/Logs", {}),
        ("GET", f"/v1/Devices/{device}/Logs/Stream", {}),
        ("GET", f"/v1/Devices/{device}/CrashReports", {}),
        ("GET", f"/v1/Devices/{device}/CrashReports/{owner['crash']}", {}),
        ("GET", f"/v1/Devices/{device}/UpdateOutcomes", {}),
        ("GET", f"/v1/Devices/{device}/DebugSessions", {}),
        ("POST", f"/v1/Devices/{device}/DebugSessions", {}),
        ("GET", f"/v1/Devices/{device}/DebugSessions/{owner['debug']}", {}),
        ("DELETE", f"/v1/Devices/{device}/DebugSessions/{owner['debug']}", {}),
        ("GET", f"/v1/Apps/{app}", {}),
        ("GET", "/v1/Apps/" + owner["device"]["unique_name"].replace("device", "app"), {}),
        ("DELETE", f"/v1/Apps/{app}", {}),
        ("GET", f"/v1/Apps/{app}/Manifest", {}),
        ("GET", f"/v1/Apps/{app}/Bundle", {}),
        ("GET", f"/v1/Deployments/{owner['deployment']}", {}),
        ("POST", f"/v1/Deployments/{owner['deployment']}", {"Status": "cancelled"}),
        ("GET", f"/v1/Deployments/{owner['deployment']}/Devices", {}),
        ("GET", f"/v1/Keys/{owner['key']['sid']}", {}),
        ("DELETE", f"/v1/Keys/{owner['key']['sid']}", {}),
        ("POST", "/v1/Deployments", {"App": app, "TargetType": "device", "Target": device}),
        ("POST", "/v1/Provisioning", {"PublicKey": "", "DeviceSid": device}),
    ]


def test_account_cannot_reach_other_account(http: httpx.Client, tenants: dict[str, Any]) -> None:
    for reader, owner in (("alpha", "beta"), ("beta", "alpha")):
        auth = tenants[reader]["account"].auth
        for method, url, form in _urls(tenants[owner]):
            response = http.request(method, url, auth=auth, data=form or None)
            # Provisioning fails on the missing key before it looks at the id.
            expected = 400 if url == "/v1/Provisioning" else 404
            assert response.status_code == expected, (reader, method, url, response.text)


def test_api_key_is_bound_to_its_account(http: httpx.Client, tenants: dict[str, Any]) -> None:
    key = tenants["alpha"]["key"]
    auth = (key["sid"], key["secret"])
    for method, url, form in _urls(tenants["beta"]):
        if method != "GET":
            continue
        assert http.request(method, url, auth=auth).status_code == 404, url
    own = http.get(f"/v1/Devices/{tenants['alpha']['device']['sid']}", auth=auth)
    assert own.status_code == 200


def test_lists_show_only_own_records(http: httpx.Client, tenants: dict[str, Any]) -> None:
    for name, other in (("alpha", "beta"), ("beta", "alpha")):
        auth = tenants[name]["account"].auth
        body = " ".join(
            http.get(path, auth=auth).text
            for path in (
                "/v1/Devices",
                "/v1/Apps",
                "/v1/Configs",
                "/v1/Secrets",
                "/v1/Deployments",
                "/v1/Keys",
            )
        )
        assert tenants[other]["device"]["sid"] not in body
        assert tenants[other]["app"] not in body
        assert tenants[other]["deployment"] not in body
        assert tenants[other]["key"]["sid"] not in body
        assert tenants[other]["account"].sid not in body
        configs = http.get("/v1/Configs", auth=auth).json()["configs"]
        assert [c["value"] for c in configs] == [name]
        assert (
            http.get("/v1/Devices", params={"Tag": "t"}, auth=auth).json()["devices"][0]["sid"]
            == (tenants[name]["device"]["sid"])
        )


def test_device_credentials_are_narrow(
    http: httpx.Client, tenants: dict[str, Any], service: Any, helpers: Any
) -> None:
    alpha = tenants["alpha"]
    device_auth = (alpha["device"]["sid"], alpha["device"]["link_secret"])
    # Account resources are closed to device credentials.
    for path in (
        "/v1/Devices",
        f"/v1/Devices/{alpha['device']['sid']}",
        "/v1/Configs",
        "/v1/Apps",
        "/v1/Keys",
    ):
        response = http.get(path, auth=device_auth)
        assert response.status_code == 403, path
        assert response.json()["code"] == 20403
    # Its own target app's bundle is open to it.
    assert http.get(f"/v1/Apps/{alpha['app']}/Bundle", auth=device_auth).status_code == 200
    assert http.get(f"/v1/Apps/{alpha['app']}/Manifest", auth=device_auth).status_code == 200
    # Another app of the same account is not; another account's app does not exist for it.
    other_app = helpers.upload(service.url, alpha["account"], helpers.build_bundle()).json()["sid"]
    assert http.get(f"/v1/Apps/{other_app}/Bundle", auth=device_auth).status_code == 403
    assert (
        http.get(f"/v1/Apps/{tenants['beta']['app']}/Bundle", auth=device_auth).status_code == 404
    )
    # A device's secret does not work as another device's.
    beta_device = tenants["beta"]["device"]["sid"]
    forged = (beta_device, alpha["device"]["link_secret"])
    assert http.get("/v1/Provisioning", auth=forged).status_code == 401


def test_every_route_requires_credentials(http: httpx.Client) -> None:
    schema = http.get("/openapi.json").json()
    public = {"/healthz", "/metrics"}
    checked = 0
    for path, operations in schema["paths"].items():
        if path in public:
            continue
        concrete = re.sub(r"\{[^}]+\}", "UV" + "0" * 32, path)
        for method in operations:
            response = http.request(method.upper(), concrete)
            assert response.status_code == 401, (method, path, response.status_code)
            assert response.json()["code"] == 20003
            checked += 1
    assert checked > 40
