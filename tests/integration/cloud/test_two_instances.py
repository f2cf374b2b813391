"""Two service instances on one database behave as one service."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from openvisor.cloud.db import create_db_engine, create_session_factory, session_scope
from openvisor.cloud.service import logs

RATE_LIMIT = 40


@pytest.fixture(scope="module")
def pair(
    service: Any, tmp_path_factory: pytest.TempPathFactory, helpers: Any
) -> Iterator[tuple[Any, Any]]:
    """The shared instance plus a second one on its database, with a lower rate limit
    and the same one-hour window."""
    second = helpers.start_service(
        service.database_url,
        tmp_path_factory.mktemp("second"),
        secrets_key=helpers.secrets_key,
        rate_limit_per_key=str(RATE_LIMIT),
        rate_limit_window_s="3600",
    )
    yield service, second
    second.stop()


def test_writes_on_one_are_read_on_the_other(pair: tuple[Any, Any], helpers: Any) -> None:
    first, second = pair
    account = helpers.create_account(first.url, "pair")
    device = helpers.provision(first.url, account, "pair-device")
    with httpx.Client(auth=account.auth) as http:
        assert (
            http.post(f"{first.url}/v1/Configs", data={"Key": "k", "Value": "v"}).status_code == 201
        )
        fetched = http.get(f"{second.url}/v1/Devices/pair-device")
        assert fetched.status_code == 200
        assert fetched.json()["sid"] == device["sid"]
        assert http.get(f"{second.url}/v1/Configs/k").json()["value"] == "v"
        # Both sign with the one key kept in the database.
        trust_a = http.get(f"{first.url}/v1/Provisioning").json()["bundle_signing_key"]
        trust_b = http.get(f"{second.url}/v1/Provisioning").json()["bundle_signing_key"]
        assert trust_a == trust_b
        app = helpers.upload(second.url, account, helpers.build_bundle()).json()
        deployed = http.post(
            f"{first.url}/v1/Deployments",
            data={"App": app["sid"], "TargetType": "device", "Target": device["sid"]},
        ).json()
        cancelled = http.post(
            f"{second.url}/v1/Deployments/{deployed['sid']}", data={"Status": "cancelled"}
        )
        assert cancelled.json()["status"] == "cancelled"
        assert (
            http.get(f"{first.url}/v1/Deployments/{deployed['sid']}").json()["status"]
            == "cancelled"
        )
        # A key made on one instance authenticates on the other, and dies on both.
        key = http.post(f"{second.url}/v1/Keys").json()
        assert (
            httpx.get(f"{first.url}/v1/Devices", auth=(key["sid"], key["secret"])).status_code
            == 200
        )
        assert http.delete(f"{first.url}/v1/Keys/{key['sid']}").status_code == 204
        assert (
            httpx.get(f"{second.url}/v1/Devices", auth=(key["sid"], key["secret"])).status_code
            == 401
        )


def test_rate_limit_is_shared(pair: tuple[Any, Any], helpers: Any) -> None:
    first, second = pair
    account = helpers.create_account(first.url, "limited")
    with httpx.Client(auth=account.auth) as http:
        # Requests to both instances count against one budget, so the second
        # instance (limit RATE_LIMIT) rejects once the two together reach it.
        for index in range(RATE_LIMIT):
            target = first if index % 2 else second
            assert http.get(f"{target.url}/v1/Devices").status_code == 200, index
        limited = http.get(f"{second.url}/v1/Devices")
        # The first instance allows more per window, so it still serves the account.
        assert http.get(f"{first.url}/v1/Devices").status_code == 200
    assert limited.status_code == 429
    assert limited.json()["code"] == 20429
    assert limited.json()["status"] == 429
    assert int(limited.headers["retry-after"]) > 0
    # Other accounts keep their own budget.
    other = helpers.create_account(first.url, "unlimited")
    assert httpx.get(f"{second.url}/v1/Devices", auth=other.auth).status_code == 200


def test_live_logs_cross_instances(pair: tuple[Any, Any], helpers: Any) -> None:
    first, second = pair
    account = helpers.create_account(first.url, "logs")
    device = helpers.provision(second.url, account)["sid"]
    received: list[str] = []

    def follow() -> None:
        with httpx.stream(
            "GET",
            f"{second.url}/v1/Devices/{device}/Logs/Stream?After=0",
            auth=account.auth,
            timeout=20,
        ) as response:
            for line in response.iter_lines():
                if line.startswith("data:"):
                    received.append(json.loads(line[5:])["message"])
                    if len(received) == 3:
                        return

    reader = threading.Thread(target=follow)
    reader.start()
    # The device link of any instance stores logs through the service layer.
    engine = create_db_engine(first.database_url)
    factory = create_session_factory(engine)
    for index in range(3):
        with session_scope(factory) as session:
            logs.append_logs(session, device, [logs.LogRecord(f"from a {index}", seq=index)])
        time.sleep(0.2)
    engine.dispose()
    reader.join(timeout=20)
    assert received == ["from a 0", "from a 1", "from a 2"]
