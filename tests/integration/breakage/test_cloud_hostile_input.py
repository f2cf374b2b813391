"""Hostile input to the REST service: every bad request gets a clear error and loses nothing.

Each error must come in the compatible envelope (code, message, more_info,
status), name the bad value or parameter, say what to send instead, and
leave stored data unchanged. No request may get a 500 response.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import struct
import zipfile
from collections.abc import Iterator
from types import ModuleType
from typing import Any
from urllib.parse import quote

import httpx
import pytest


@pytest.fixture(scope="module")
def http(hostile_service: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hostile_service.url, timeout=30) as client:
        yield client


@pytest.fixture
def account(hostile_service: Any, cloud_helpers: ModuleType) -> Any:
    return cloud_helpers.create_account(hostile_service.url, "hostile")


def _error(response: httpx.Response, status: int, *fragments: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert isinstance(body["code"], int) and body["code"] >= 20000
    assert body["more_info"].endswith(str(body["code"]))
    for fragment in fragments:
        assert fragment in body["message"], body["message"]
    return body


def _keys(http: httpx.Client, account: Any, path: str = "/v1/Configs") -> list[str]:
    response = http.get(path, params={"PageSize": 1000}, auth=account.auth)
    assert response.status_code == 200, response.text
    listed = response.json()
    return [entry["key"] for entry in listed[listed["meta"]["key"]]]


# ---- authentication -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        (None, "authentication required"),
        ("Bearer abc", "authentication required"),
        ("Basic %%%not-base64", "malformed Basic credentials"),
        ("Basic " + base64.b64encode(b"\xff\xfe:x").decode(), "malformed Basic credentials"),
        ("Basic " + base64.b64encode(b"no-colon").decode(), "invalid credentials for 'no-colon'"),
        ("Basic " + base64.b64encode(b"AC" + b"0" * 32 + b":x").decode(), "check the SID"),
    ],
)
def test_bad_credentials_get_401_with_hint(
    http: httpx.Client, header: str | None, fragment: str
) -> None:
    headers = {"Authorization": header} if header else {}
    response = http.get("/v1/Devices", headers=headers)
    _error(response, 401, fragment)
    assert response.headers["www-authenticate"].startswith("Basic")


def test_long_username_is_not_echoed_whole(http: httpx.Client) -> None:
    response = http.get("/v1/Devices", auth=("AC" + "a" * 5000, "x"))
    body = _error(response, 401, "invalid credentials")
    assert len(body["message"]) < 200


def test_device_credentials_get_403(
    http: httpx.Client, hostile_service: Any, cloud_helpers: ModuleType, account: Any
) -> None:
    device = cloud_helpers.provision(hostile_service.url, account)
    response = http.get("/v1/Configs", auth=(device["sid"], device["link_secret"]))
    _error(response, 403, device["sid"], "use account credentials")


# ---- content type and size --------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (json.dumps({"Key": "k", "Value": "v"}).encode(), "application/json"),
        (b"Key=k&Value=v", "text/plain"),
        (b"<Key>k</Key>", "application/xml"),
    ],
)
def test_non_form_body_names_fix(
    http: httpx.Client, account: Any, content: bytes, content_type: str
) -> None:
    response = http.post(
        "/v1/Configs", content=content, headers={"Content-Type": content_type}, auth=account.auth
    )
    _error(response, 400, "Key", content_type, "application/x-www-form-urlencoded")
    assert _keys(http, account) == []


def test_oversized_body_is_413(http: httpx.Client, account: Any) -> None:
    response = http.post(
        "/v1/Configs", data={"Key": "big", "Value": "v" * 200_000}, auth=account.auth
    )
    _error(response, 413, "larger than", "send a smaller body")
    assert _keys(http, account) == []


def test_oversized_chunked_body_is_413(http: httpx.Client, account: Any) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"Key=big&Value="
        for _ in range(100):
            yield b"v" * 4096

    response = http.post(
        "/v1/Configs",
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=account.auth,
    )
    _error(response, 413, "larger than", "send a smaller body")
    assert _keys(http, account) == []


# ---- keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["a b", "ünïcödé", "😀", "' OR '1'='1", "x'); DROP TABLE configs; --", "a.b", "-"],
)
@pytest.mark.parametrize("store", ["Configs", "Secrets"])
def test_unusual_keys_round_trip_exactly(
    http: httpx.Client, account: Any, key: str, store: str
) -> None:
    other = http.post(f"/v1/{store}", data={"Key": "other", "Value": "o"}, auth=account.auth)
    assert other.status_code == 201, other.text
    created = http.post(f"/v1/{store}", data={"Key": key, "Value": "v1"}, auth=account.auth)
    assert created.status_code == 201, created.text
    assert created.json()["key"] == key

    path = f"/v1/{store}/{quote(key, safe='')}"
    fetched = http.get(path, auth=account.auth)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["key"] == key
    assert http.post(path, data={"Value": "v2"}, auth=account.auth).status_code == 200
    assert sorted(_keys(http, account, f"/v1/{store}")) == sorted(["other", key])
    assert http.delete(path, auth=account.auth).status_code == 204
    assert _keys(http, account, f"/v1/{store}") == ["other"]


@pytest.mark.parametrize("key", ["%", "a%2Fb", "a%20b", ".", ".."])
def test_unaddressable_keys_rejected(http: httpx.Client, account: Any, key: str) -> None:
    response = http.post("/v1/Configs", data={"Key": key, "Value": "v"}, auth=account.auth)
    _error(response, 400, f"invalid Key {key!r}")
    assert _keys(http, account) == []


@pytest.mark.parametrize("key", ["a/b", "a?b", "a#b", "a\nb", "\u202e", "k" * 101])
def test_invalid_keys_are_rejected_and_named(http: httpx.Client, account: Any, key: str) -> None:
    response = http.post("/v1/Secrets", data={"Key": key, "Value": "v"}, auth=account.auth)
    _error(response, 400, "Key")
    assert _keys(http, account, "/v1/Secrets") == []


# ---- paging -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["0", "-1", "abc", "1.5", ""])
def test_bad_page_size_is_400_naming_page_size(http: httpx.Client, account: Any, size: str) -> None:
    response = http.get("/v1/Configs", params={"PageSize": size}, auth=account.auth)
    _error(response, 400, "PageSize")


@pytest.mark.parametrize("size", ["1001", "1500", "99999999999999999999"])
def test_huge_page_size_is_clamped(http: httpx.Client, account: Any, size: str) -> None:
    response = http.get("/v1/Configs", params={"PageSize": size}, auth=account.auth)
    assert response.status_code == 200, response.text
    assert response.json()["meta"]["page_size"] == 1000


@pytest.mark.parametrize("page", ["99999999999999999999", str(2**40), str(2**63)])
def test_huge_page_index_is_400_not_500(http: httpx.Client, account: Any, page: str) -> None:
    response = http.get("/v1/Devices", params={"Page": page}, auth=account.auth)
    _error(response, 400, f"Page {page}", "smaller Page")


def _token(value: object) -> str:
    raw = json.dumps({"o": value}).encode()
    return "PT" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "' OR 1=1 --",
        "PT",
        "PT!!!!",
        "PT" + "a" * 3000,
        _token(-5),
        _token(2**63),
        _token(10**30),
        _token("0"),
        _token(True),
        _token(None),
        "PT" + base64.urlsafe_b64encode(b"[1,2]").decode(),
    ],
)
def test_bad_page_token_is_21481(http: httpx.Client, account: Any, token: str) -> None:
    response = http.get("/v1/Apps", params={"PageToken": token}, auth=account.auth)
    body = _error(response, 400, "invalid PageToken", "next_page_url")
    assert body["code"] == 21481
    assert len(body["message"]) < 300


def test_page_token_walk_loses_no_entry(http: httpx.Client, account: Any) -> None:
    keys = [f"k{index:02d}" for index in range(7)]
    for key in keys:
        assert (
            http.post("/v1/Configs", data={"Key": key, "Value": "v"}, auth=account.auth).status_code
            == 201
        )
    seen: list[str] = []
    url: str | None = "/v1/Configs?PageSize=3"
    while url:
        page = http.get(url, auth=account.auth).json()
        seen += [entry["key"] for entry in page["configs"]]
        url = page["meta"]["next_page_url"]
    assert seen == keys


# ---- secrets -----------------------------------------------------------------------------


def test_secret_values_never_returned(
    http: httpx.Client, hostile_service: Any, cloud_helpers: ModuleType, account: Any
) -> None:
    value = "sv-" + secrets.token_hex(12)
    device = cloud_helpers.provision(hostile_service.url, account)
    device_path = f"/v1/Devices/{device['sid']}/Secrets"
    responses = [
        http.post("/v1/Secrets", data={"Key": "api", "Value": value}, auth=account.auth),
        http.post("/v1/Secrets", data={"Key": "api", "Value": value}, auth=account.auth),
        http.post("/v1/Secrets/api", data={"Value": value + "2"}, auth=account.auth),
        http.post("/v1/Secrets", data={"Key": "bad/key", "Value": value}, auth=account.auth),
        http.post("/v1/Secrets", data={"Key": "long", "Value": value * 300}, auth=account.auth),
        http.post("/v1/Secrets", content=json.dumps({"Value": value}).encode(), auth=account.auth),
        http.get("/v1/Secrets", auth=account.auth),
        http.get("/v1/Secrets/api", auth=account.auth),
        http.post(device_path, data={"Key": "dk", "Value": value}, auth=account.auth),
        http.get(device_path, auth=account.auth),
        http.get(f"{device_path}/dk", auth=account.auth),
    ]
    assert [r.status_code for r in responses] == [
        201, 409, 200, 400, 400, 400, 200, 200, 201, 200, 200,
    ]  # fmt: skip
    for response in responses:
        assert value not in response.text
        assert "value" not in response.json()
    assert value not in hostile_service.log_text()


# ---- other accounts ----------------------------------------------------------------------


def test_other_account_sids_not_found(
    http: httpx.Client, hostile_service: Any, cloud_helpers: ModuleType, account: Any
) -> None:
    owner = account
    intruder = cloud_helpers.create_account(hostile_service.url, "intruder")
    device = cloud_helpers.provision(hostile_service.url, owner, "owned-" + secrets.token_hex(3))
    dev = device["sid"]
    assert (
        http.post(f"/v1/Devices/{dev}/Configs", data={"Key": "c", "Value": "1"}, auth=owner.auth)
    ).status_code == 201
    app = cloud_helpers.upload(hostile_service.url, owner, cloud_helpers.build_bundle()).json()
    before = http.get(f"/v1/Devices/{dev}", auth=owner.auth).json()

    attempts = [
        http.get(f"/v1/Devices/{dev}", auth=intruder.auth),
        http.get(f"/v1/Devices/{device['unique_name']}", auth=intruder.auth),
        http.post(f"/v1/Devices/{dev}", data={"UniqueName": "mine"}, auth=intruder.auth),
        http.get(f"/v1/Devices/{dev}/Configs", auth=intruder.auth),
        http.post(f"/v1/Devices/{dev}/Configs/c", data={"Value": "2"}, auth=intruder.auth),
        http.delete(f"/v1/Devices/{dev}/Configs/c", auth=intruder.auth),
        http.post(
            f"/v1/Devices/{dev}/Secrets", data={"Key": "s", "Value": "x"}, auth=intruder.auth
        ),
        http.get(f"/v1/Apps/{app['sid']}", auth=intruder.auth),
        http.get(f"/v1/Apps/{app['sid']}/Bundle", auth=intruder.auth),
        http.delete(f"/v1/Apps/{app['sid']}", auth=intruder.auth),
        http.post("/v1/Deployments", data={"App": app["sid"], "Target": dev}, auth=intruder.auth),
        http.get(f"/v1/Devices/{dev}/Logs", auth=intruder.auth),
    ]
    for response in attempts:
        _error(response, 404, "was not found", "check the identifier and the account")

    assert http.get(f"/v1/Devices/{dev}", auth=owner.auth).json() == before
    config = http.get(f"/v1/Devices/{dev}/Configs/c", auth=owner.auth)
    assert config.json()["value"] == "1"
    assert _keys(http, owner, f"/v1/Devices/{dev}/Secrets") == []
    assert http.get(f"/v1/Apps/{app['sid']}", auth=owner.auth).status_code == 200


def test_long_identifier_shortened(http: httpx.Client, account: Any) -> None:
    body = _error(http.get("/v1/Devices/" + "U" * 5000, auth=account.auth), 404, "was not found")
    assert len(body["message"]) < 200


# ---- bundles -----------------------------------------------------------------------------


def _damaged_bundles(cloud: ModuleType) -> dict[str, bytes]:
    good = cloud.build_bundle()
    encrypted = bytearray(good)
    for signature, flag in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        position = encrypted.find(signature)
        while position >= 0:
            encrypted[position + flag] |= 0x01
            position = encrypted.find(signature, position + 4)
    bad_offset = bytearray(good)
    struct.pack_into("<I", bad_offset, bad_offset.rfind(b"PK\x01\x02") + 42, 0xFFFF_0000)
    duplicate = io.BytesIO()
    with zipfile.ZipFile(duplicate, "w") as archive:
        archive.writestr("manifest", b"a")
        with pytest.warns(UserWarning):
            archive.writestr("manifest", b"b")
    return {
        "encrypted entries": bytes(encrypted),
        "bad entry offset": bytes(bad_offset),
        "truncated": good[: len(good) // 2],
        "duplicate manifest": duplicate.getvalue(),
        "empty": b"",
    }


def test_damaged_bundle_uploads_are_400(
    http: httpx.Client, hostile_service: Any, cloud_helpers: ModuleType, account: Any
) -> None:
    for name, bundle in _damaged_bundles(cloud_helpers).items():
        response = cloud_helpers.upload(hostile_service.url, account, bundle)
        assert response.status_code == 400, (name, response.text)
        assert "bundle" in response.json()["message"], name
    assert http.get("/v1/Apps", auth=account.auth).json()["apps"] == []


def test_unsatisfiable_range_names_the_size(
    http: httpx.Client, hostile_service: Any, cloud_helpers: ModuleType, account: Any
) -> None:
    app = cloud_helpers.upload(hostile_service.url, account, cloud_helpers.build_bundle()).json()
    whole = http.get(f"/v1/Apps/{app['sid']}/Bundle", auth=account.auth)
    response = http.get(
        f"/v1/Apps/{app['sid']}/Bundle",
        headers={"Range": f"bytes={len(whole.content)}-"},
        auth=account.auth,
    )
    _error(response, 416, "unsatisfiable Range")
    assert response.headers["content-range"] == f"bytes */{len(whole.content)}"


# ---- debug sessions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["nope", "BAAA", "x" * 5000], ids=["word", "short-base64", "5000-chars"]
)
def test_debug_session_key_must_be_p256(
    http: httpx.Client, hostile_service: Any, cloud_helpers: ModuleType, account: Any, key: str
) -> None:
    device = cloud_helpers.provision(hostile_service.url, account)
    path = f"/v1/Devices/{device['sid']}/DebugSessions"
    response = http.post(path, data={"ClientPublicKey": key}, auth=account.auth)
    _error(response, 400, "invalid ClientPublicKey", "P-256")
    assert http.get(path, auth=account.auth).json()["debug_sessions"] == []
    good = http.post(
        path, data={"ClientPublicKey": cloud_helpers.new_public_key()}, auth=account.auth
    )
    assert good.status_code == 201, good.text
