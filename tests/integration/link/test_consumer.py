"""The cloud's device-link consumer against real brokers, databases and HTTPS servers."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from openvisor.cloud.db import session_scope
from openvisor.cloud.devicelink import DeviceLinkConsumer
from openvisor.cloud.models import App, CrashReport, Device, LogEntry, UpdateOutcome
from openvisor.cloud.service import configs, devices
from openvisor.cloud.service.httpproxy import ProxyPolicy
from openvisor.link import messages as msg
from openvisor.link import topics
from openvisor.link.base import DeviceLink, ServiceLink
from openvisor.link.broker import EmbeddedBroker
from openvisor.link.identity import DeviceIdentity
from openvisor.link.memory import MemoryHub
from openvisor.link.mqtt import Backoff, MqttDeviceLink, MqttServiceLink, parse_broker_url

FAST = Backoff(initial_s=0.05, max_s=0.5)
SERVICE_PASSWORD = "consumer-test"


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@dataclass
class Rig:
    cloud: Any
    service: ServiceLink
    consumer: DeviceLinkConsumer
    identity: DeviceIdentity
    device: DeviceLink
    down: list[msg.Message]

    def ask(self, message: msg.Message, kind: type[msg.Message], timeout: float = 15) -> Any:
        before = len(self.down)
        assert self.device.send(message)
        assert wait_until(lambda: any(isinstance(m, kind) for m in self.down[before:]), timeout)
        return next(m for m in self.down[before:] if isinstance(m, kind))

    def device_row(self) -> Device:
        with session_scope(self.cloud.sessions) as session:
            return devices.get_device_by_sid(session, self.identity.device_id)


def build_rig(
    tmp_path: Path,
    cloud: Any,
    service: ServiceLink,
    make_device: Callable[[DeviceIdentity], DeviceLink],
    policy: ProxyPolicy,
) -> Rig:
    consumer = DeviceLinkConsumer(
        service, sessions=cloud.sessions, box=cloud.box, proxy_policy=policy
    )
    consumer.start()
    service.start()
    identity = DeviceIdentity.create(tmp_path / "device")
    cloud.provision(identity)
    device = make_device(identity)
    down: list[msg.Message] = []
    device.on_message(down.append)
    return Rig(cloud, service, consumer, identity, device, down)


@pytest.fixture(params=["embedded-sqlite", "mosquitto-postgres"])
def rig(request, tmp_path: Path, https_server: str, test_ca, make_cloud) -> Iterator[Rig]:  # type: ignore[no-untyped-def]
    policy = ProxyPolicy(allow_hosts=("127.0.0.1",), ca_bundle=test_ca.cert_path)
    keys: dict[str, str] = {}
    broker: EmbeddedBroker | None = None
    if request.param == "embedded-sqlite":
        cloud = make_cloud(f"sqlite:///{tmp_path / 'cloud.db'}")
        broker = EmbeddedBroker(service_password=SERVICE_PASSWORD, device_key=keys.get)
        broker.start()
        url, prefix = broker.url, topics.DEFAULT_PREFIX
        service: ServiceLink = MqttServiceLink(
            parse_broker_url(url, username=topics.SERVICE_USERNAME),
            password=SERVICE_PASSWORD,
            backoff=FAST,
        )
    else:
        cloud = make_cloud(request.getfixturevalue("postgres_url"))
        url = request.getfixturevalue("mqtt_url")
        # The shared broker is used by other tests too: a private prefix keeps
        # this test's topics apart.
        prefix = "ovtest" + uuid.uuid4().hex[:8]
        service = MqttServiceLink(parse_broker_url(url), prefix=prefix, backoff=FAST)

    def make_device(identity: DeviceIdentity) -> DeviceLink:
        keys[identity.device_id] = identity.public_key_pem()
        return MqttDeviceLink(
            identity.device_id,
            parse_broker_url(url),
            password=identity.mqtt_password,
            state_dir=tmp_path / "device",
            prefix=prefix,
            backoff=FAST,
            hello=msg.Hello(public_key_pem=identity.public_key_pem(), kernel_version=1),
        )

    built = build_rig(tmp_path, cloud, service, make_device, policy)
    assert isinstance(service, MqttServiceLink)
    assert service.wait_ready(10)
    built.device.start()
    yield built
    built.device.stop()
    built.consumer.stop()
    service.stop()
    if broker is not None:
        broker.stop()


def test_presence_hello_logs_and_reports(rig: Rig) -> None:
    assert wait_until(lambda: rig.device_row().online)
    assert wait_until(lambda: any(isinstance(m, msg.Welcome) for m in rig.down))
    welcome = next(m for m in rig.down if isinstance(m, msg.Welcome))
    assert abs(welcome.unix_micros - time.time_ns() // 1000) < 60_000_000
    assert welcome.logging_enabled is True

    records = tuple(
        msg.LogRecord(seq=(1 << 32) + i, micros=i, text=f"line {i}".encode()) for i in range(3)
    )
    rig.device.send(msg.LogBatch(records=records))
    rig.device.send(msg.LogBatch(records=records[:1]))  # a redelivered batch
    rig.device.send(msg.Report(report_kind="crash", report_id="c1", body={"pc": 0x0800_0123}))

    def stored() -> list[str]:
        with session_scope(rig.cloud.sessions) as session:
            rows = session.scalars(
                select(LogEntry)
                .where(LogEntry.device_sid == rig.identity.device_id)
                .order_by(LogEntry.seq)
            )
            return [row.message for row in rows]

    def crash() -> CrashReport | None:
        with session_scope(rig.cloud.sessions) as session:
            return session.scalar(
                select(CrashReport).where(CrashReport.device_sid == rig.identity.device_id)
            )

    assert wait_until(lambda: stored() == ["line 0", "line 1", "line 2"])
    assert wait_until(lambda: crash() is not None)
    report = crash()
    assert report is not None
    assert json.loads(report.report)["pc"] == 0x0800_0123

    sync = rig.ask(msg.TimeRequest(), msg.TimeSync)
    assert abs(sync.unix_micros - time.time_ns() // 1000) < 60_000_000

    rig.device.stop()
    assert wait_until(lambda: not rig.device_row().online)
    assert rig.device_row().date_last_seen is not None


def test_commands_reach_device(rig: Rig) -> None:
    assert wait_until(lambda: rig.device_row().online)
    assert wait_until(lambda: any(isinstance(m, msg.Welcome) for m in rig.down))
    with session_scope(rig.cloud.sessions) as session:
        devices.update_device(
            session,
            rig.cloud.account_sid,
            rig.identity.device_id,
            logging_enabled=True,
            restart_app=True,
        )
    assert wait_until(lambda: msg.LoggingControl(enabled=True) in rig.down)
    assert wait_until(lambda: msg.RestartRequest(target="app") in rig.down)


def test_config_and_secret_fetch(rig: Rig) -> None:
    with session_scope(rig.cloud.sessions) as session:
        configs.create_entry(
            session,
            rig.cloud.account_sid,
            rig.identity.device_id,
            configs.CONFIG,
            key="colour",
            value="blue",
            box=rig.cloud.box,
        )
        configs.create_entry(
            session,
            rig.cloud.account_sid,
            rig.cloud.account_sid,
            configs.SECRET,
            key="token",
            value="s3cret",
            box=rig.cloud.box,
        )
    assert rig.device.wait_online(10)  # type: ignore[attr-defined]
    response = rig.ask(
        msg.ConfigFetchRequest(
            channel=9,
            keys=(
                msg.ConfigKey(scope=1, store=1, key="colour"),
                msg.ConfigKey(scope=0, store=0, key="token"),
                msg.ConfigKey(scope=1, store=0, key="colour"),
            ),
        ),
        msg.ConfigFetchResponse,
    )
    assert response.channel == 9
    assert response.items == (
        msg.ConfigItem(result=0, value=b"blue"),
        msg.ConfigItem(result=0, value=b"s3cret"),
        msg.ConfigItem(result=1, value=b""),
    )


def test_http_proxy_rules(rig: Rig, https_server: str) -> None:
    assert rig.device.wait_online(10)  # type: ignore[attr-defined]

    def call(channel: int, **fields: Any) -> msg.HttpResponse:
        request = {
            "method": "POST",
            "url": f"{https_server}/echo?q=1",
            "timeout_ms": 5000,
            "headers": (b"X-Test: hello",),
            "body": b"data",
        }
        request.update(fields)
        response: msg.HttpResponse = rig.ask(
            msg.HttpRequest(channel=channel, **request), msg.HttpResponse
        )
        assert response.channel == channel
        return response

    ok = call(1)
    assert (ok.result, ok.status_code) == (0, 201)
    assert json.loads(ok.body) == {
        "method": "POST",
        "path": "/echo?q=1",
        "header": "hello",
        "body": "data",
    }
    assert b"x-echo: yes" in [line.lower() for line in ok.headers]
    assert call(2, url=https_server.replace("https", "http")).result == 1  # UNSUPPORTEDURISCHEME
    assert call(3, method="BREW").result == 2  # UNSUPPORTEDMETHOD
    assert call(4, headers=(b"no colon",)).result == 3  # INVALIDHEADERS
    assert call(5, timeout_ms=100).result == 4  # INVALIDTIMEOUT
    off_list = https_server.replace("127.0.0.1", "localhost")
    assert call(6, url=off_list).result == 5  # REQUESTFAILED: host not on the allow-list


def test_http_proxy_checks_certificates(tmp_path: Path, https_server: str, make_cloud) -> None:  # type: ignore[no-untyped-def]
    cloud = make_cloud(f"sqlite:///{tmp_path / 'cloud.db'}")
    hub = MemoryHub()
    policy = ProxyPolicy(allow_hosts=("127.0.0.1",))  # system CAs only: the test CA is unknown
    built = build_rig(
        tmp_path,
        cloud,
        hub.service_link(),
        lambda identity: hub.device_link(identity.device_id),
        policy,
    )
    built.device.start()
    try:
        response = built.ask(
            msg.HttpRequest(channel=1, method="GET", url=https_server, timeout_ms=5000),
            msg.HttpResponse,
        )
    finally:
        built.consumer.stop()
    assert response.result == 5


def test_opaque_echo_and_unknown_endpoint(tmp_path: Path, make_cloud) -> None:  # type: ignore[no-untyped-def]
    cloud = make_cloud(f"sqlite:///{tmp_path / 'cloud.db'}")
    hub = MemoryHub()
    built = build_rig(
        tmp_path,
        cloud,
        hub.service_link(),
        lambda identity: hub.device_link(identity.device_id),
        ProxyPolicy(),
    )
    built.device.start()
    try:
        built.device.send(msg.ChannelOpen(channel=3, channel_type=0, endpoint="echo"))
        echoed = built.ask(msg.ChannelData(channel=3, data=b"ping"), msg.ChannelData)
        assert echoed == msg.ChannelData(channel=3, data=b"ping")
        built.device.send(msg.ChannelOpen(channel=4, channel_type=0, endpoint="nowhere"))
        assert msg.ChannelClose(channel=4, reason=1) in built.down
    finally:
        built.consumer.stop()


def test_deployment_offer_and_update_report(tmp_path: Path, make_cloud) -> None:  # type: ignore[no-untyped-def]
    cloud = make_cloud(f"sqlite:///{tmp_path / 'cloud.db'}")
    hub = MemoryHub()
    built = build_rig(
        tmp_path,
        cloud,
        hub.service_link(),
        lambda identity: hub.device_link(identity.device_id),
        ProxyPolicy(),
    )
    built.device.start()
    device_id = built.identity.device_id
    app_sid = "KA" + "a" * 32
    try:
        assert wait_until(lambda: built.device_row().online)
        with session_scope(cloud.sessions) as session:
            session.add(
                App(
                    sid=app_sid,
                    account_sid=cloud.account_sid,
                    hash="sha256:" + "b" * 64,
                    manifest=b"manifest",
                )
            )
            session.flush()
            device = devices.get_device_by_sid(session, device_id)
            devices.set_target_app(session, device, session.get(App, app_sid))
        assert wait_until(lambda: any(isinstance(m, msg.UpdateOffer) for m in built.down))
        offer = next(m for m in built.down if isinstance(m, msg.UpdateOffer))
        assert offer.bundle_sid == app_sid
        assert offer.url == f"http://127.0.0.1:8080/v1/Apps/{app_sid}/Bundle"
        assert offer.body == {"app_hash": "sha256:" + "b" * 64}

        # The device reports the outcome with the OTA engine's report body.
        built.device.send(
            msg.Report(
                report_kind="update",
                report_id="u1",
                body={
                    "deployment_sid": "",
                    "status": "confirmed",
                    "app_id": "b" * 64,
                    "error_code": 0,
                    "reason": "none",
                    "message": "",
                },
            )
        )
        built.device.send(
            msg.Report(
                report_kind="update",
                report_id="u2",
                body={
                    "status": "no-such-status",
                },
            )
        )
    finally:
        built.consumer.stop()
    with session_scope(cloud.sessions) as session:
        outcomes = list(
            session.scalars(select(UpdateOutcome).where(UpdateOutcome.device_sid == device_id))
        )
        device = devices.get_device_by_sid(session, device_id)
        assert [(o.app_sid, o.outcome) for o in outcomes] == [(app_sid, "confirmed")]
        assert device.update_status == "up-to-date"
        assert device.reported_app_sid == app_sid
