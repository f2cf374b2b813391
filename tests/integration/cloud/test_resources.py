"""openvisor's own resources and the service's rules, over real HTTP."""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from openvisor.bundle import parse_manifest, read_bundle, verify_signature
from openvisor.cloud.service import deployments, logs, reports


@pytest.fixture(scope="module")
def account(service: Any, helpers: Any) -> Any:
    """A fresh account on the module's service."""
    return helpers.create_account(service.url, "resources")


def test_provisioning_returns_trust_and_broker(
    http: httpx.Client, account: Any, helpers: Any
) -> None:
    key = helpers.new_public_key()
    response = http.post(
        "/v1/Provisioning", auth=account.auth, data={"PublicKey": key, "UniqueName": "prov-1"}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["sid"].startswith("UV")
    assert len(body["sid"]) == 34
    assert body["unique_name"] == "prov-1"
    assert len(body["link_secret"]) == 32
    assert body["broker"]["username"] == body["sid"]
    assert body["broker"]["url"].startswith("mqtt://127.0.0.1")
    point = base64.b64decode(body["bundle_signing_key"]["public_key"])
    assert len(point) == 65
    assert point[0] == 4

    # Device credentials read the same trust anchor.
    settings = http.get("/v1/Provisioning", auth=(body["sid"], body["link_secret"]))
    assert settings.status_code == 200
    assert settings.json()["bundle_signing_key"] == body["bundle_signing_key"]
    assert settings.json()["broker"]["username"] == body["sid"]

    # Provisioning again with the same key rotates the link secret.
    again = http.post(
        "/v1/Provisioning", auth=account.auth, data={"PublicKey": key, "DeviceSid": body["sid"]}
    )
    assert again.status_code == 201
    assert again.json()["link_secret"] != body["link_secret"]
    old = http.get("/v1/Provisioning", auth=(body["sid"], body["link_secret"]))
    assert old.status_code == 401

    # The same id with another key is a conflict.
    other = http.post(
        "/v1/Provisioning",
        auth=account.auth,
        data={"PublicKey": helpers.new_public_key(), "DeviceSid": body["sid"]},
    )
    assert other.status_code == 409


def test_provisioning_rejects_bad_keys(http: httpx.Client, account: Any) -> None:
    for bad in ("", "not base64!", base64.b64encode(b"\x04" + b"\x01" * 64).decode()):
        response = http.post("/v1/Provisioning", auth=account.auth, data={"PublicKey": bad})
        assert response.status_code == 400, bad
        assert response.json()["code"] == 20001
    bad_sid = http.post(
        "/v1/Provisioning",
        auth=account.auth,
        data={"PublicKey": "x", "DeviceSid": "UV123"},
    )
    assert bad_sid.status_code == 400


def test_tags_and_filtered_list(
    http: httpx.Client, account: Any, helpers: Any, service: Any
) -> None:
    first = helpers.provision(service.url, account)["sid"]
    second = helpers.provision(service.url, account)["sid"]
    assert (
        http.post(f"/v1/Devices/{first}/Tags", auth=account.auth, data={"Tag": "lab"}).status_code
        == 201
    )
    assert (
        http.post(f"/v1/Devices/{first}/Tags", auth=account.auth, data={"Tag": "lab"}).status_code
        == 201
    )
    assert (
        http.post(
            f"/v1/Devices/{second}/Tags", auth=account.auth, data={"Tag": "field"}
        ).status_code
        == 201
    )
    assert http.get(f"/v1/Devices/{first}/Tags", auth=account.auth).json()["tags"] == ["lab"]
    lab = http.get("/v1/Devices", params={"Tag": "lab"}, auth=account.auth).json()
    assert [d["sid"] for d in lab["devices"]] == [first]
    assert lab["devices"][0]["tags"] == ["lab"]
    assert "Tag=lab" in lab["meta"]["first_page_url"]
    assert http.get(f"/v1/Devices/{first}", auth=account.auth).json()["tags"] == ["lab"]
    bad = http.post(f"/v1/Devices/{first}/Tags", auth=account.auth, data={"Tag": "no spaces"})
    assert bad.status_code == 400
    assert http.delete(f"/v1/Devices/{first}/Tags/lab", auth=account.auth).status_code == 204
    assert http.delete(f"/v1/Devices/{first}/Tags/lab", auth=account.auth).status_code == 404
    assert http.get(f"/v1/Devices/{first}/Tags", auth=account.auth).json()["tags"] == []


def test_upload_signs_and_serves_ranges(
    http: httpx.Client, account: Any, helpers: Any, service: Any
) -> None:
    layer = bytes(range(256)) * 8
    response = helpers.upload(
        service.url, account, helpers.build_bundle(layer), UniqueName="ranged"
    )
    assert response.status_code == 201
    app = response.json()
    assert app["sid"].startswith("KA")
    assert app["unique_name"] == "ranged"

    bundle = http.get(f"/v1/Apps/{app['sid']}/Bundle", auth=account.auth)
    assert bundle.status_code == 200
    assert bundle.headers["accept-ranges"] == "bytes"
    contents = read_bundle(bundle.content)
    manifest = parse_manifest(contents.manifest)
    trust = http.get("/v1/Provisioning", auth=account.auth).json()["bundle_signing_key"]
    public_key = base64.b64decode(trust["public_key"])
    assert f"{manifest.signer_id:016x}" == trust["signer_id"]
    assert verify_signature(public_key, manifest.body, manifest.signature)
    assert app["hash"] == "sha256:" + manifest.app_id

    fetch_hash = manifest.layers[0].fetch_hash.hex()
    part = http.get(
        f"/v1/Apps/{app['sid']}/Layers/{fetch_hash}",
        auth=account.auth,
        headers={"Range": "bytes=100-199"},
    )
    assert part.status_code == 206
    assert part.content == layer[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(layer)}"
    tail = http.get(
        f"/v1/Apps/{app['sid']}/Layers/{fetch_hash}",
        auth=account.auth,
        headers={"Range": "bytes=-10"},
    )
    assert tail.content == layer[-10:]
    beyond = http.get(
        f"/v1/Apps/{app['sid']}/Layers/{fetch_hash}",
        auth=account.auth,
        headers={"Range": f"bytes={len(layer)}-"},
    )
    assert beyond.status_code == 416

    # A re-upload of the signed bundle keeps the cloud's signature.
    again = helpers.upload(service.url, account, bundle.content)
    assert again.status_code == 201
    assert again.json()["hash"] == app["hash"]


def test_upload_rejects_bad_bundles(account: Any, helpers: Any, service: Any) -> None:
    good = helpers.build_bundle(b"\x00" * 64)
    cases = {
        "not a zip": b"plain text",
        "foreign signer": helpers.build_bundle(signer_id=0x1234, signature=b"\x01" * 64),
    }
    # Corrupt the layer but keep its entry name.
    import io
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(good))
    tampered = io.BytesIO()
    with zipfile.ZipFile(tampered, "w") as archive:
        for name in source.namelist():
            data = source.read(name)
            archive.writestr(name, data if name == "manifest" else b"\x01" + data[1:])
    cases["tampered layer"] = tampered.getvalue()
    for label, bundle in cases.items():
        response = helpers.upload(service.url, account, bundle)
        assert response.status_code == 400, label
        assert response.json()["code"] == 20001, label
        assert response.json()["message"].startswith("invalid bundle"), label
    missing = httpx.post(f"{service.url}/v1/Apps", auth=account.auth, data={"UniqueName": "x"})
    assert missing.status_code == 400


def test_deployments_by_device_tag_and_fleet(
    http: httpx.Client, account: Any, helpers: Any, service: Any, db_sessions: Any
) -> None:
    fleet_account = helpers.create_account(service.url, "fleet")
    auth = fleet_account.auth
    devices = [helpers.provision(service.url, fleet_account)["sid"] for _ in range(3)]
    http.post(f"/v1/Devices/{devices[0]}/Tags", auth=auth, data={"Tag": "canary"})
    http.post(f"/v1/Devices/{devices[1]}/Tags", auth=auth, data={"Tag": "canary"})
    app = helpers.upload(service.url, fleet_account, helpers.build_bundle()).json()
    newer = helpers.upload(service.url, fleet_account, helpers.build_bundle()).json()

    one = http.post(
        "/v1/Deployments",
        auth=auth,
        data={"App": app["sid"], "TargetType": "device", "Target": devices[2]},
    )
    assert one.status_code == 201
    assert one.json()["sid"].startswith("DP")
    assert one.json()["status"] == "active"
    tag = http.post(
        "/v1/Deployments",
        auth=auth,
        data={"App": app["sid"], "TargetType": "tag", "Target": "canary"},
    ).json()
    statuses = http.get(f"/v1/Deployments/{tag['sid']}/Devices", auth=auth).json()["devices"]
    assert sorted(s["device_sid"] for s in statuses) == sorted(devices[:2])
    assert {s["status"] for s in statuses} == {"pending"}
    device = http.get(f"/v1/Devices/{devices[0]}", auth=auth).json()
    assert device["app"]["target_sid"] == app["sid"]
    listed_devices = http.get("/v1/Devices", params={"Tag": "canary"}, auth=auth).json()["devices"]
    assert {d["app"]["target_hash"] for d in listed_devices} == {app["hash"]}
    assert device["app"]["update_status"] == "pending"

    # Devices report outcomes through the device link, which calls the service layer.
    with db_sessions() as session:
        deployments.record_update_outcome(
            session, devices[0], app_sid=app["sid"], outcome="downloading"
        )
        deployments.record_update_outcome(
            session, devices[0], app_sid=app["sid"], outcome="succeeded"
        )
        deployments.record_update_outcome(
            session, devices[1], app_sid=app["sid"], outcome="rolled-back", error_code=7
        )
    statuses = {
        s["device_sid"]: s
        for s in http.get(f"/v1/Deployments/{tag['sid']}/Devices", auth=auth).json()["devices"]
    }
    assert statuses[devices[0]]["status"] == "succeeded"
    assert statuses[devices[1]]["status"] == "rolled-back"
    assert statuses[devices[1]]["error_code"] == 7
    assert http.get(f"/v1/Deployments/{tag['sid']}", auth=auth).json()["status"] == "completed"
    updated = http.get(f"/v1/Devices/{devices[0]}", auth=auth).json()["app"]
    assert updated["update_status"] == "up-to-date"
    assert updated["reported_sid"] == app["sid"]
    failed = http.get(f"/v1/Devices/{devices[1]}", auth=auth).json()["app"]
    assert failed["update_status"] == "error"
    assert failed["update_error_code"] == 7
    outcomes = http.get(f"/v1/Devices/{devices[0]}/UpdateOutcomes", auth=auth).json()[
        "update_outcomes"
    ]
    assert [o["outcome"] for o in outcomes] == ["succeeded", "downloading"]
    assert outcomes[0]["deployment_sid"] == tag["sid"]

    # A fleet deployment supersedes the device deployment still pending, and cancels cleanly.
    fleet = http.post(
        "/v1/Deployments", auth=auth, data={"App": newer["sid"], "TargetType": "fleet"}
    ).json()
    assert (
        len(http.get(f"/v1/Deployments/{fleet['sid']}/Devices", auth=auth).json()["devices"]) == 3
    )
    superseded = http.get(f"/v1/Deployments/{one.json()['sid']}/Devices", auth=auth).json()[
        "devices"
    ]
    assert superseded[0]["status"] == "superseded"
    cancelled = http.post(
        f"/v1/Deployments/{fleet['sid']}", auth=auth, data={"Status": "cancelled"}
    )
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    rows = http.get(f"/v1/Deployments/{fleet['sid']}/Devices", auth=auth).json()["devices"]
    assert {r["status"] for r in rows} == {"cancelled"}
    # The device that installed the first app goes back to it.
    assert (
        http.get(f"/v1/Devices/{devices[0]}", auth=auth).json()["app"]["target_sid"] == app["sid"]
    )
    again = http.post(f"/v1/Deployments/{fleet['sid']}", auth=auth, data={"Status": "cancelled"})
    assert again.status_code == 409
    listed = http.get("/v1/Deployments", auth=auth).json()["deployments"]
    assert listed[0]["sid"] == fleet["sid"]
    bad = http.post("/v1/Deployments", auth=auth, data={"App": app["sid"], "TargetType": "galaxy"})
    assert bad.status_code == 400
    # An app with a device targeting it cannot be deleted.
    assert http.delete(f"/v1/Apps/{app['sid']}", auth=auth).status_code == 409


def test_logs_pages_sse_and_websocket(
    http: httpx.Client, account: Any, helpers: Any, service: Any, db_sessions: Any
) -> None:
    device = helpers.provision(service.url, account)["sid"]
    with db_sessions() as session:
        stored = logs.append_logs(
            session, device, [logs.LogRecord(f"line {i}", seq=i) for i in range(5)]
        )
        assert stored == 5
        # A redelivered QoS 1 batch stores nothing new.
        assert logs.append_logs(session, device, [logs.LogRecord("line 4", seq=4)]) == 0
    page = http.get(f"/v1/Devices/{device}/Logs", params={"PageSize": 2}, auth=account.auth).json()
    assert [entry["message"] for entry in page["logs"]] == ["line 0", "line 1"]
    rest = http.get(page["meta"]["next_page_url"], auth=account.auth).json()
    assert [entry["message"] for entry in rest["logs"]] == ["line 2", "line 3"]
    after = http.get(
        f"/v1/Devices/{device}/Logs", params={"After": page["logs"][1]["id"]}, auth=account.auth
    ).json()
    assert [entry["seq"] for entry in after["logs"]] == [2, 3, 4]
    assert http.get(f"/v1/Devices/{device}", auth=account.auth).json()["presence"]["online"] is True

    received: list[dict[str, Any]] = []
    last_id = after["logs"][-1]["id"]

    def read_sse() -> None:
        # Last-Event-ID resumes after the newest stored line, whenever the stream starts.
        with httpx.stream(
            "GET",
            f"{service.url}/v1/Devices/{device}/Logs/Stream",
            auth=account.auth,
            headers={"Last-Event-ID": str(last_id)},
            timeout=20,
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if line.startswith("data:"):
                    received.append(json.loads(line[5:]))
                    if len(received) == 2:
                        return

    reader = threading.Thread(target=read_sse)
    reader.start()
    with db_sessions() as session:
        logs.append_logs(
            session, device, [logs.LogRecord("live 1", seq=10), logs.LogRecord("live 2", seq=11)]
        )
    reader.join(timeout=20)
    assert [entry["message"] for entry in received] == ["live 1", "live 2"]

    token = base64.b64encode(f"{account.sid}:{account.token}".encode()).decode()
    ws_url = service.url.replace("http://", "ws://") + f"/v1/Devices/{device}/Logs/Live?After=0"
    with ws_connect(ws_url, additional_headers={"Authorization": f"Basic {token}"}) as socket:
        first = json.loads(socket.recv(timeout=10))
        assert first["message"] == "line 0"
    with pytest.raises(Exception) as info, ws_connect(ws_url) as socket:
        socket.recv(timeout=10)
    assert "4401" in str(info.value)


def test_crash_reports_and_debug_sessions(
    http: httpx.Client, account: Any, helpers: Any, service: Any, db_sessions: Any
) -> None:
    device = helpers.provision(service.url, account)["sid"]
    with db_sessions() as session:
        crash = reports.record_crash(session, device, {"kind": "hardfault", "pc": 0x08000123})
        crash_sid = crash.sid
    listed = http.get(f"/v1/Devices/{device}/CrashReports", auth=account.auth).json()
    assert [c["sid"] for c in listed["crash_reports"]] == [crash_sid]
    one = http.get(f"/v1/Devices/{device}/CrashReports/{crash_sid}", auth=account.auth).json()
    assert one["report"] == {"kind": "hardfault", "pc": 0x08000123}
    assert crash_sid.startswith("CR")

    opened = http.post(f"/v1/Devices/{device}/DebugSessions", auth=account.auth)
    assert opened.status_code == 201
    session_sid = opened.json()["sid"]
    assert session_sid.startswith("DS")
    assert opened.json()["status"] == "open"
    closed = http.delete(f"/v1/Devices/{device}/DebugSessions/{session_sid}", auth=account.auth)
    assert closed.json()["status"] == "closed"
    assert closed.json()["date_ended"] is not None
    history = http.get(f"/v1/Devices/{device}/DebugSessions", auth=account.auth).json()
    assert [d["sid"] for d in history["debug_sessions"]] == [session_sid]


def test_keys_lifecycle(http: httpx.Client, account: Any) -> None:
    created = http.post("/v1/Keys", auth=account.auth, data={"FriendlyName": "ci"})
    assert created.status_code == 201
    key = created.json()
    assert key["sid"].startswith("SK")
    assert len(key["secret"]) == 32
    listed = http.get("/v1/Keys", auth=account.auth).json()["keys"]
    assert key["sid"] in [k["sid"] for k in listed]
    assert all("secret" not in k for k in listed)
    assert "secret" not in http.get(f"/v1/Keys/{key['sid']}", auth=account.auth).json()
    # An API key manages keys of its own account.
    assert http.get("/v1/Keys", auth=(key["sid"], key["secret"])).status_code == 200
    assert http.delete(f"/v1/Keys/{key['sid']}", auth=account.auth).status_code == 204
    assert http.get("/v1/Keys", auth=(key["sid"], key["secret"])).status_code == 401


def test_admin_accounts(http: httpx.Client, account: Any, helpers: Any) -> None:
    admin = (helpers.admin_sid, helpers.admin_token)
    listed = http.get("/v1/Accounts", auth=admin)
    assert listed.status_code == 200
    assert account.sid in [a["sid"] for a in listed.json()["accounts"]]
    assert all("auth_token" not in a for a in listed.json()["accounts"])
    assert http.get("/v1/Accounts", auth=account.auth).status_code == 403
    assert http.post("/v1/Accounts", auth=account.auth).status_code == 403


def test_paging_rules(http: httpx.Client, account: Any) -> None:
    clamped = http.get("/v1/Devices", params={"PageSize": 5000}, auth=account.auth).json()
    assert clamped["meta"]["page_size"] == 1000
    assert clamped["meta"]["key"] == "devices"
    bad_token = http.get("/v1/Devices", params={"PageToken": "garbage"}, auth=account.auth)
    assert bad_token.status_code == 400
    assert bad_token.json()["code"] == 21481
    zero = http.get("/v1/Devices", params={"PageSize": 0}, auth=account.auth)
    assert zero.status_code == 400


def test_error_envelopes(http: httpx.Client, account: Any) -> None:
    missing = http.get("/v1/Nothing", auth=account.auth)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/json; charset=utf-8"
    envelope = missing.json()
    assert envelope["code"] == 20404
    assert envelope["status"] == 404
    assert envelope["more_info"] == "https://www.twilio.com/docs/errors/20404"
    wrong_method = http.put("/v1/Devices", auth=account.auth)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["status"] == 405
    unauthenticated = http.get("/v1/Devices")
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["code"] == 20003
    assert unauthenticated.headers["www-authenticate"].startswith("Basic")


def test_request_size_limit(http: httpx.Client, account: Any) -> None:
    response = http.post("/v1/Configs", auth=account.auth, data={"Key": "k", "Value": "x" * 70000})
    assert response.status_code == 413
    assert response.json()["code"] == 20413


def test_docs_health_and_metrics(http: httpx.Client, account: Any) -> None:
    assert http.get("/docs").status_code == 200
    schema = http.get("/openapi.json").json()
    assert "/v1/Devices/{sid}" in schema["paths"]
    assert "/v1/Deployments" in schema["paths"]
    assert http.get("/healthz").json() == {"status": "ok", "database": "ok"}
    http.get("/v1/Devices", auth=account.auth)
    metrics = http.get("/metrics").text
    assert 'openvisor_http_requests_total{method="GET",route="/v1/Devices",status="200"}' in metrics
    assert 'openvisor_devices{presence="offline"}' in metrics
    assert "openvisor_active_deployments" in metrics
