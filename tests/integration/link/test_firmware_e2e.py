"""Compiled firmware using every cloud channel through the real link, service and brokers.

firmware/apps/n_channels fetches its config, POSTs to an HTTPS server the
test runs, echoes bytes over an opaque channel and exchanges MQTT messages
with a broker the test runs, all through the device link, the cloud's
consumer and a database. It ends with mvTestingComplete(0) when every step
worked. Both deployments are covered: the embedded broker with SQLite, and
Mosquitto with PostgreSQL.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from openvisor.cloud.db import session_scope
from openvisor.cloud.devicelink import DeviceLinkConsumer
from openvisor.cloud.models import LogEntry
from openvisor.cloud.service import configs
from openvisor.cloud.service.httpproxy import ProxyPolicy
from openvisor.device import AppImage, Device, DeviceConfig, DeviceState
from openvisor.kernel.net import attach
from openvisor.link import messages as msg
from openvisor.link import topics
from openvisor.link.base import ServiceLink
from openvisor.link.broker import EmbeddedBroker
from openvisor.link.identity import DeviceIdentity
from openvisor.link.mqtt import Backoff, MqttDeviceLink, MqttServiceLink, parse_broker_url

FAST = Backoff(initial_s=0.05, max_s=0.5)
SERVICE_PASSWORD = "e2e-service"
TOKEN = "tok-123"


def run_until_finished(device: Device, timeout_s: float) -> None:
    """Step the device, letting virtual time run no faster than about real time.

    The app waits for cloud replies with timeouts in virtual time, so while it
    sleeps the driver waits on the kernel's wake-up event instead of
    fast-forwarding past replies still on their way.
    """
    deadline = time.monotonic() + timeout_s
    while device.state is not DeviceState.FINISHED and time.monotonic() < deadline:
        device.step(2_000)
        device.kernel.wakeup.wait(0.002)


def start_peer(port: int) -> tuple[paho.Client, list[bytes]]:
    """Connect the app's MQTT counterpart, which replies to "ready" on n/up with "go" on n/down."""
    heard: list[bytes] = []
    peer = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, client_id="n-peer", protocol=paho.MQTTv311
    )

    def on_message(client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        heard.append(bytes(message.payload))
        if message.payload == b"ready":
            client.publish("n/down", b"go", qos=1)

    peer.on_message = on_message
    peer.connect("127.0.0.1", port)
    peer.subscribe("n/up", 1)
    peer.loop_start()
    return peer, heard


@pytest.mark.parametrize("deployment", ["embedded-sqlite", "mosquitto-postgres"])
def test_n_channels_end_to_end(  # type: ignore[no-untyped-def]
    deployment: str,
    request,
    tmp_path: Path,
    firmware: Callable[[str], Path],
    https_echo,
    test_ca,
    mosquitto,
    make_cloud,
) -> None:
    state_dir = tmp_path / "device"
    identity = DeviceIdentity.create(state_dir)
    keys = {identity.device_id: identity.public_key_pem()}
    broker: EmbeddedBroker | None = None
    if deployment == "embedded-sqlite":
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
        prefix = "ovtest" + uuid.uuid4().hex[:8]
        service = MqttServiceLink(parse_broker_url(url), prefix=prefix, backoff=FAST)
    cloud.provision(identity)

    app_broker = mosquitto("allow_anonymous true")
    with session_scope(cloud.sessions) as session:
        for key, value in (
            ("n-url", https_echo.url + "/in"),
            ("n-mqtt-port", str(app_broker.port)),
        ):
            configs.create_entry(
                session,
                cloud.account_sid,
                identity.device_id,
                configs.CONFIG,
                key=key,
                value=value,
                box=cloud.box,
            )
        configs.create_entry(
            session,
            cloud.account_sid,
            cloud.account_sid,
            configs.SECRET,
            key="n-token",
            value=TOKEN,
            box=cloud.box,
        )

    consumer = DeviceLinkConsumer(
        service,
        sessions=cloud.sessions,
        box=cloud.box,
        proxy_policy=ProxyPolicy(allow_hosts=("127.0.0.1",), ca_bundle=test_ca.cert_path),
    )
    consumer.start()
    service.start()
    assert isinstance(service, MqttServiceLink)
    assert service.wait_ready(10)
    peer, heard = start_peer(app_broker.port)

    link = MqttDeviceLink(
        identity.device_id,
        parse_broker_url(url),
        password=identity.mqtt_password,
        state_dir=state_dir,
        prefix=prefix,
        backoff=FAST,
        hello=msg.Hello(public_key_pem=identity.public_key_pem(), kernel_version=1),
    )
    device = Device(
        state_dir,
        image=AppImage.from_path(firmware("n_channels")),
        link=link,
        config=DeviceConfig(factory_test=True, wall_time_from_host=False, seed=7),
    )
    attach(device.kernel)
    link.start()
    try:
        assert link.wait_online(10)
        device.boot()
        run_until_finished(device, 60)

        def logs() -> list[str]:
            with session_scope(cloud.sessions) as session:
                rows = session.scalars(
                    select(LogEntry)
                    .where(LogEntry.device_sid == identity.device_id)
                    .order_by(LogEntry.seq)
                )
                return [row.message for row in rows]

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "n_channels finished (failed step 0)" not in logs():
            device.step(2_000)
            time.sleep(0.01)
        lines = logs()
    finally:
        peer.loop_stop()
        peer.disconnect()
        link.stop()
        consumer.stop()
        service.stop()
        if broker is not None:
            broker.stop()

    assert device.test_status == 0, lines
    assert "n_channels finished (failed step 0)" in lines
    assert any("opaque echo matched" in line for line in lines)
    assert any("MQTT message on n/down: go (qos 1)" in line for line in lines)
    config_line = next(line for line in lines if "n_channels: config url=" in line)
    assert f"token bytes={len(TOKEN)}" in config_line
    assert TOKEN not in config_line
    assert https_echo.seen == [
        {"method": "POST", "path": "/in", "header": TOKEN, "body": "hello from n_channels"}
    ]
    assert heard == [b"ready"]
    assert device.kernel.wall_time_us() is not None
