"""Secret values never leave the service except to the owning device's config fetch."""

from __future__ import annotations

import os
import re
import secrets
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from twilio.rest import Client

from openvisor.cloud.db import create_db_engine, create_session_factory, session_scope
from openvisor.cloud.models import ConfigEntry
from openvisor.cloud.security import SecretBox
from openvisor.cloud.service import configs


@pytest.fixture(scope="module")
def sealed_service(service: Any) -> Any:
    """The shared service, which encrypts secret values at rest."""
    return service


def _marker(label: str) -> str:
    return f"MARKER-{label}-{secrets.token_hex(8)}"


def test_secret_values_never_in_responses_or_logs(
    sealed_service: Any, helpers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TWILIO_REGION", raising=False)
    monkeypatch.delenv("TWILIO_EDGE", raising=False)
    url = sealed_service.url
    account = helpers.create_account(url, "secrets")
    device = helpers.provision(url, account, "secret-holder")
    sid = device["sid"]
    client = Client(*account.auth)
    client.microvisor.base_url = url
    v1 = client.microvisor.v1

    markers = [_marker(label) for label in ("a1", "a2", "d1", "d2", "big")]
    v1.account_secrets.create(key="acct", value=markers[0])
    v1.account_secrets("acct").update(value=markers[1])
    v1.devices(sid).device_secrets.create(key="dev", value=markers[2])
    v1.devices(sid).device_secrets("dev").update(value=markers[3])
    # Rejected writes must not echo the value either.
    with httpx.Client(base_url=url, auth=account.auth) as http:
        too_long = markers[4] + "x" * 4100
        rejected = http.post("/v1/Secrets", data={"Key": "big", "Value": too_long})
        assert rejected.status_code == 400
        duplicate = http.post("/v1/Secrets", data={"Key": "acct", "Value": markers[4]})
        assert duplicate.status_code == 409
        bodies = [rejected.text, duplicate.text]

        # Walk every GET route of the API with real identifiers.
        schema = http.get("/openapi.json").json()
        values = {"sid": sid, "key": "dev", "tag": "none"}
        for path, operations in schema["paths"].items():
            if "get" not in operations or path.endswith("/Stream"):
                continue
            concrete = path
            for name in re.findall(r"\{([^}]+)\}", path):
                concrete = concrete.replace("{" + name + "}", values.get(name, "missing"))
            if concrete.startswith(("/v1/Secrets/", "/v1/Configs/")):
                concrete = concrete.rsplit("/", 1)[0] + "/acct"
            bodies.append(http.get(concrete).text)
        bodies.append(http.get(f"/v1/Devices/{sid}/Secrets/dev").text)
        bodies.append(http.get("/v1/Secrets/acct").text)
        bodies.append(http.get("/v1/Secrets").text)

    listed = v1.account_secrets.list()
    assert [s.key for s in listed] == ["acct"]
    assert v1.devices(sid).device_secrets("dev").fetch().key == "dev"
    for body in bodies:
        for marker in markers:
            assert marker not in body

    # The owning device's config fetch gets the plain values.
    engine = create_db_engine(sealed_service.database_url)
    factory = create_session_factory(engine)
    box = SecretBox(helpers.secrets_key)
    with session_scope(factory) as session:
        results = configs.fetch_for_device(
            session,
            sid,
            [
                configs.FetchItem("secret", "account", "acct"),
                configs.FetchItem("secret", "device", "dev"),
                configs.FetchItem("secret", "device", "absent"),
            ],
            box=box,
        )
        assert [r.value for r in results[:2]] == [markers[1], markers[3]]
        assert results[2].result is configs.KeyFetchResult.KEYNOTFOUND
        # At rest the values are sealed.
        stored = session.scalars(select(ConfigEntry.value).where(ConfigEntry.store == "secret"))
        for value in stored:
            assert value.startswith("aesgcm:")
            assert "MARKER" not in value
    engine.dispose()

    log_text = sealed_service.log_text()
    assert "Created secret" in log_text
    for marker in markers:
        assert marker not in log_text


def test_device_fetch_is_scoped_to_its_account(sealed_service: Any, helpers: Any) -> None:
    url = sealed_service.url
    owner = helpers.create_account(url, "owner")
    stranger = helpers.create_account(url, "stranger")
    owner_device = helpers.provision(url, owner)["sid"]
    stranger_device = helpers.provision(url, stranger)["sid"]
    value = _marker("scoped")
    with httpx.Client(base_url=url) as http:
        assert (
            http.post(
                "/v1/Secrets", auth=owner.auth, data={"Key": "only", "Value": value}
            ).status_code
            == 201
        )
        assert (
            http.post(
                f"/v1/Devices/{owner_device}/Configs",
                auth=owner.auth,
                data={"Key": "cfg", "Value": "c"},
            ).status_code
            == 201
        )
    engine = create_db_engine(sealed_service.database_url)
    factory = create_session_factory(engine)
    with session_scope(factory) as session:
        box = SecretBox(helpers.secrets_key)
        mine = configs.fetch_for_device(
            session, owner_device, [configs.FetchItem("secret", "account", "only")], box=box
        )
        theirs = configs.fetch_for_device(
            session,
            stranger_device,
            [
                configs.FetchItem("secret", "account", "only"),
                configs.FetchItem("config", "device", "cfg"),
            ],
            box=box,
        )
    engine.dispose()
    assert mine[0].value == value
    assert [r.result for r in theirs] == [configs.KeyFetchResult.KEYNOTFOUND] * 2
    assert os.environ.get("OPENVISOR_SECRETS_KEY") is None
