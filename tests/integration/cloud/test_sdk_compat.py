"""The official twilio==8.13.0 SDK's microvisor.v1 client, unchanged, against openvisor."""

from __future__ import annotations

import asyncio
import base64
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

# aiohttp deprecates the BasicAuth helper the 8.13.0 async client uses.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:twilio")


def make_client(base_url: str, username: str, password: str, **kwargs: Any) -> Client:
    """Build a stock client and point its Microvisor domain at the service."""
    client = Client(username, password, **kwargs)
    client.microvisor.base_url = base_url
    return client


@pytest.fixture(autouse=True)
def no_twilio_region(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep TWILIO_REGION/TWILIO_EDGE from rewriting the service's host name."""
    monkeypatch.delenv("TWILIO_REGION", raising=False)
    monkeypatch.delenv("TWILIO_EDGE", raising=False)


@pytest.fixture(scope="module")
def world(service: Any, helpers: Any) -> Iterator[dict[str, Any]]:
    """An account with three devices and two apps."""
    account = helpers.create_account(service.url, "sdk")
    devices = [helpers.provision(service.url, account, f"sdk device {i}") for i in range(3)]
    apps = []
    for name in ("sdk-app-1", "sdk-app-2"):
        response = helpers.upload(service.url, account, helpers.build_bundle(), UniqueName=name)
        assert response.status_code == 201, response.text
        apps.append(response.json())
    yield {
        "account": account,
        "devices": devices,
        "apps": apps,
        "bundle_factory": helpers.build_bundle,
        "upload": lambda bundle: helpers.upload(service.url, account, bundle),
    }


def test_devices_list_stream_page(service: Any, world: dict[str, Any]) -> None:
    account = world["account"]
    v1 = make_client(service.url, *account.auth).microvisor.v1
    expected = sorted(d["sid"] for d in world["devices"])

    assert sorted(d.sid for d in v1.devices.list()) == expected
    # page_size=1 makes the SDK follow next_page_url twice.
    assert sorted(d.sid for d in v1.devices.stream(page_size=1)) == expected
    assert len(v1.devices.list(limit=2)) == 2
    # A limit over 1000 is sent as PageSize=1500, which the service clamps.
    assert len(v1.devices.list(limit=1500)) == 3

    first = v1.devices.page(page_size=2)
    first_sids = [d.sid for d in first]  # a page is an iterator: read it once
    assert len(first_sids) == 2
    second = first.next_page()
    assert second is not None
    assert len(list(second)) == 1
    assert second.next_page() is None
    again = v1.devices.get_page(first._payload["meta"]["url"])
    assert [d.sid for d in again] == first_sids
    back = second.previous_page()
    assert back is not None
    assert [d.sid for d in back] == first_sids


def test_device_fetch_and_update(service: Any, world: dict[str, Any]) -> None:
    account = world["account"]
    v1 = make_client(service.url, *account.auth).microvisor.v1
    sid = world["devices"][0]["sid"]
    app = world["apps"][0]

    device = v1.devices(sid).fetch()
    assert device.sid == sid
    assert device.account_sid == account.sid
    assert device.unique_name == "sdk device 0"
    assert device.url == f"{service.url}/v1/Devices/{sid}"
    assert device.links["device_configs"] == f"{service.url}/v1/Devices/{sid}/Configs"
    assert device.date_created.tzinfo is not None  # parsed, so the format matched

    by_name = v1.devices.get("sdk device 0").fetch()
    assert by_name.sid == sid

    updated = v1.devices(sid).update(
        unique_name="renamed", target_app=app["sid"], logging_enabled=True, restart_app=True
    )
    assert updated.unique_name == "renamed"
    assert updated.app["target_sid"] == app["sid"]
    assert updated.app["target_hash"] == app["hash"]
    assert updated.app["update_status"] == "pending"
    assert updated.logging["enabled"] is True
    assert updated.logging["date_expires"] is not None

    by_app_name = updated.update(target_app="sdk-app-2", logging_enabled=False)
    assert by_app_name.app["target_sid"] == world["apps"][1]["sid"]
    assert by_app_name.logging["enabled"] is False
    assert updated.fetch().unique_name == "renamed"
    assert v1.devices(sid).update(unique_name="sdk device 0").unique_name == "sdk device 0"


def test_device_configs(service: Any, world: dict[str, Any]) -> None:
    v1 = make_client(service.url, *world["account"].auth).microvisor.v1
    device = v1.devices(world["devices"][1]["sid"])

    created = device.device_configs.create(key="greeting key", value="hello")
    assert created.key == "greeting key"
    assert created.value == "hello"
    assert created.device_sid == world["devices"][1]["sid"]
    assert created.url.endswith("/Configs/greeting%20key")
    device.device_configs.create(key="other", value="x")

    assert device.device_configs("greeting key").fetch().value == "hello"
    assert device.device_configs.get("greeting key").update(value="bye").value == "bye"
    assert [c.key for c in device.device_configs.list()] == ["greeting key", "other"]
    assert [c.key for c in device.device_configs.stream(page_size=1)] == ["greeting key", "other"]
    page = device.device_configs.page(page_size=1)
    assert [c.key for c in page] == ["greeting key"]
    assert [
        c.key for c in device.device_configs.get_page(page._payload["meta"]["next_page_url"])
    ] == ["other"]

    instance = device.device_configs("other").fetch()
    assert instance.fetch().value == "x"
    assert instance.update(value="y").value == "y"
    assert instance.delete() is True
    assert device.device_configs("greeting key").delete() is True
    assert list(device.device_configs.list()) == []

    # The instance-level proxies of a fetched device reach the same resources.
    fetched = device.fetch()
    fetched.device_configs.create(key="k", value="v")
    assert [c.value for c in fetched.device_configs.list()] == ["v"]
    assert fetched.device_configs("k").delete() is True


def test_device_secrets(service: Any, world: dict[str, Any]) -> None:
    v1 = make_client(service.url, *world["account"].auth).microvisor.v1
    sid = world["devices"][2]["sid"]
    device = v1.devices(sid)

    created = device.device_secrets.create(key="api-key", value="s3cr3t-device-value")
    assert created.key == "api-key"
    assert created.device_sid == sid
    assert created.date_rotated is not None
    device.device_secrets.create(key="second", value="v2")

    fetched = device.device_secrets("api-key").fetch()
    assert fetched.key == "api-key"
    rotated = device.device_secrets.get("api-key").update(value="new-value")
    assert rotated.key == "api-key"
    assert [s.key for s in device.device_secrets.list()] == ["api-key", "second"]
    assert [s.key for s in device.device_secrets.stream(page_size=1)] == ["api-key", "second"]
    page = device.device_secrets.page(page_size=1)
    assert [
        s.key for s in device.device_secrets.get_page(page._payload["meta"]["next_page_url"])
    ] == ["second"]
    assert fetched.update(value="third").key == "api-key"
    assert fetched.fetch().key == "api-key"
    assert fetched.delete() is True
    assert device.device_secrets("second").delete() is True
    assert list(device.device_secrets.list()) == []
    assert list(device.fetch().device_secrets.list()) == []


def test_account_configs(service: Any, world: dict[str, Any]) -> None:
    v1 = make_client(service.url, *world["account"].auth).microvisor.v1

    created = v1.account_configs.create(key="endpoint", value="https://example.com")
    assert created.key == "endpoint"
    assert created.value == "https://example.com"
    assert created.url == f"{service.url}/v1/Configs/endpoint"
    v1.account_configs.create(key="zz", value="last")
    assert v1.account_configs("endpoint").fetch().value == "https://example.com"
    assert v1.account_configs.get("endpoint").update(value="https://example.org").value == (
        "https://example.org"
    )
    assert [c.key for c in v1.account_configs.list()] == ["endpoint", "zz"]
    assert [c.key for c in v1.account_configs.stream(page_size=1)] == ["endpoint", "zz"]
    page = v1.account_configs.page(page_size=1)
    assert [c.key for c in v1.account_configs.get_page(page._payload["meta"]["next_page_url"])] == [
        "zz"
    ]
    instance = v1.account_configs("zz").fetch()
    assert instance.fetch().value == "last"
    assert instance.update(value="changed").value == "changed"
    assert instance.delete() is True
    assert v1.account_configs("endpoint").delete() is True
    assert list(v1.account_configs.list()) == []


def test_account_secrets(service: Any, world: dict[str, Any]) -> None:
    v1 = make_client(service.url, *world["account"].auth).microvisor.v1

    created = v1.account_secrets.create(key="token", value="account-secret-value")
    assert created.key == "token"
    assert created.date_rotated is not None
    v1.account_secrets.create(key="zz", value="v")
    assert v1.account_secrets("token").fetch().key == "token"
    assert v1.account_secrets.get("token").update(value="rotated").key == "token"
    assert [s.key for s in v1.account_secrets.list()] == ["token", "zz"]
    assert [s.key for s in v1.account_secrets.stream(page_size=1)] == ["token", "zz"]
    page = v1.account_secrets.page(page_size=1)
    assert [s.key for s in v1.account_secrets.get_page(page._payload["meta"]["next_page_url"])] == [
        "zz"
    ]
    instance = v1.account_secrets("zz").fetch()
    assert instance.fetch().key == "zz"
    assert instance.update(value="w").key == "zz"
    assert instance.delete() is True
    assert v1.account_secrets("token").delete() is True
    assert list(v1.account_secrets.list()) == []


def test_apps_and_manifest(service: Any, world: dict[str, Any], helpers: Any) -> None:
    account = world["account"]
    v1 = make_client(service.url, *account.auth).microvisor.v1
    first = world["apps"][0]

    listed = v1.apps.list()
    assert [a.sid for a in listed][:2] == [a["sid"] for a in world["apps"]]
    assert [a.sid for a in v1.apps.stream(page_size=1)][:2] == [a["sid"] for a in world["apps"]]
    page = v1.apps.page(page_size=1)
    assert [a.sid for a in page] == [first["sid"]]
    assert [a.sid for a in v1.apps.get_page(page._payload["meta"]["url"])] == [first["sid"]]

    app = v1.apps(first["sid"]).fetch()
    assert app.sid == first["sid"]
    assert app.account_sid == account.sid
    assert app.hash.startswith("sha256:")
    assert app.unique_name == "sdk-app-1"
    assert app.links["app_manifests"] == f"{service.url}/v1/Apps/{first['sid']}/Manifest"
    assert v1.apps.get("sdk-app-1").fetch().sid == first["sid"]

    manifest = v1.apps(first["sid"]).app_manifests().fetch()
    assert manifest.app_sid == first["sid"]
    assert manifest.hash == app.hash
    assert len(base64.b64decode(manifest.encoded_bytes)) > 64
    assert app.app_manifests().fetch().hash == app.hash
    assert manifest.fetch().encoded_bytes == manifest.encoded_bytes

    extra = helpers.upload(service.url, account, helpers.build_bundle()).json()
    assert v1.apps(extra["sid"]).delete() is True
    doomed = helpers.upload(service.url, account, helpers.build_bundle()).json()
    assert v1.apps(doomed["sid"]).fetch().delete() is True
    with pytest.raises(TwilioRestException) as info:
        v1.apps(extra["sid"]).fetch()
    assert info.value.status == 404
    assert info.value.code == 20404


def test_deprecated_domain_accessors(service: Any, world: dict[str, Any]) -> None:
    microvisor = make_client(service.url, *world["account"].auth).microvisor
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert len(microvisor.devices.list()) == 3
        assert len(microvisor.apps.list()) >= 2
        assert microvisor.account_configs.list() == []
        assert microvisor.account_secrets.list() == []


def test_api_key_credentials(service: Any, world: dict[str, Any]) -> None:
    account = world["account"]
    key = httpx.post(f"{service.url}/v1/Keys", auth=account.auth, data={"FriendlyName": "sdk"})
    assert key.status_code == 201
    body = key.json()
    v1 = make_client(
        service.url, body["sid"], body["secret"], account_sid=account.sid
    ).microvisor.v1
    assert len(v1.devices.list()) == 3
    assert (
        httpx.delete(f"{service.url}/v1/Keys/{body['sid']}", auth=account.auth).status_code == 204
    )
    with pytest.raises(TwilioRestException) as info:
        v1.devices(world["devices"][0]["sid"]).fetch()
    assert info.value.status == 401
    assert info.value.code == 20003


def test_errors_reach_the_sdk(service: Any, world: dict[str, Any]) -> None:
    v1 = make_client(service.url, *world["account"].auth).microvisor.v1
    with pytest.raises(TwilioRestException) as info:
        v1.devices("UV" + "0" * 32).fetch()
    assert info.value.status == 404
    assert info.value.code == 20404
    assert "not found" in info.value.msg

    v1.account_configs.create(key="dup", value="1")
    with pytest.raises(TwilioRestException) as info:
        v1.account_configs.create(key="dup", value="2")
    assert info.value.status == 409
    with pytest.raises(TwilioRestException) as info:
        v1.account_configs.create(key="big", value="x" * 4097)
    assert info.value.status == 400
    assert info.value.code == 20001
    with pytest.raises(TwilioRestException) as info:
        v1.devices(world["devices"][0]["sid"]).update(target_app="KA" + "f" * 32)
    assert info.value.status == 404
    assert v1.account_configs("dup").delete() is True

    bad = make_client(service.url, world["account"].sid, "wrong-token").microvisor.v1
    with pytest.raises(TwilioRestException) as info:
        bad.devices(world["devices"][0]["sid"]).fetch()
    assert info.value.status == 401
    assert info.value.code == 20003


def test_async_calls(service: Any, world: dict[str, Any]) -> None:
    account = world["account"]
    device_sid = world["devices"][0]["sid"]
    app_sid = world["apps"][0]["sid"]

    async def run() -> None:
        http_client = AsyncTwilioHttpClient()
        client = make_client(service.url, *account.auth, http_client=http_client)
        v1 = client.microvisor.v1
        try:
            devices = await v1.devices.list_async()
            assert len(devices) == 3
            streamed = [d.sid async for d in await v1.devices.stream_async(page_size=1)]
            assert len(streamed) == 3
            page = await v1.devices.page_async(page_size=2)
            assert len(list(page)) == 2
            again = await v1.devices.get_page_async(page._payload["meta"]["url"])
            assert len(list(again)) == 2

            device = await v1.devices(device_sid).fetch_async()
            assert device.sid == device_sid
            assert (await device.fetch_async()).sid == device_sid
            updated = await v1.devices(device_sid).update_async(logging_enabled=True)
            assert updated.logging["enabled"] is True
            assert (await updated.update_async(logging_enabled=False)).logging["enabled"] is False

            configs = v1.devices(device_sid).device_configs
            created = await configs.create_async(key="a", value="1")
            assert created.value == "1"
            assert [c.key for c in await configs.list_async()] == ["a"]
            assert [c.key async for c in await configs.stream_async()] == ["a"]
            config_page = await configs.page_async()
            assert len(list(await configs.get_page_async(config_page._payload["meta"]["url"]))) == 1
            assert (await configs("a").fetch_async()).value == "1"
            assert (await configs("a").update_async(value="2")).value == "2"
            assert (await created.fetch_async()).value == "2"
            assert (await created.update_async(value="3")).value == "3"
            assert await created.delete_async() is True
            await configs.create_async(key="b", value="1")
            assert await configs("b").delete_async() is True

            secrets = v1.devices(device_sid).device_secrets
            secret = await secrets.create_async(key="s", value="hidden-1")
            assert [s.key for s in await secrets.list_async()] == ["s"]
            assert [s.key async for s in await secrets.stream_async()] == ["s"]
            secret_page = await secrets.page_async()
            assert len(list(await secrets.get_page_async(secret_page._payload["meta"]["url"]))) == 1
            assert (await secrets("s").fetch_async()).key == "s"
            assert (await secrets("s").update_async(value="hidden-2")).key == "s"
            assert (await secret.fetch_async()).key == "s"
            assert (await secret.update_async(value="hidden-3")).key == "s"
            assert await secrets("s").delete_async() is True
            other_secret = await secrets.create_async(key="t", value="hidden-4")
            assert await other_secret.delete_async() is True

            for store in (v1.account_configs, v1.account_secrets):
                item = await store.create_async(key="acct", value="v")
                assert item.key == "acct"
                assert len(await store.list_async()) == 1
                assert len([x async for x in await store.stream_async()]) == 1
                store_page = await store.page_async()
                assert (
                    len(list(await store.get_page_async(store_page._payload["meta"]["url"]))) == 1
                )
                assert (await store("acct").fetch_async()).key == "acct"
                assert (await store("acct").update_async(value="w")).key == "acct"
                assert (await item.fetch_async()).key == "acct"
                assert (await item.update_async(value="x")).key == "acct"
                assert await item.delete_async() is True
                await store.create_async(key="again", value="v")
                assert await store("again").delete_async() is True

            apps = await v1.apps.list_async()
            assert len(apps) >= 2
            assert len([a async for a in await v1.apps.stream_async(page_size=1)]) == len(apps)
            app_page = await v1.apps.page_async(page_size=1)
            assert len(list(await v1.apps.get_page_async(app_page._payload["meta"]["url"]))) == 1
            app = await v1.apps(app_sid).fetch_async()
            assert app.sid == app_sid
            assert (await app.fetch_async()).hash == app.hash
            manifest = await v1.apps(app_sid).app_manifests().fetch_async()
            assert manifest.hash == app.hash
            assert (await manifest.fetch_async()).app_sid == app_sid
            doomed = world["upload"](world["bundle_factory"]()).json()
            assert await v1.apps(doomed["sid"]).delete_async() is True
            other = world["upload"](world["bundle_factory"]()).json()
            assert await (await v1.apps(other["sid"]).fetch_async()).delete_async() is True
        finally:
            await http_client.close()

    asyncio.run(run())
