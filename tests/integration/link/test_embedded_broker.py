"""The embedded amqtt broker with the link's login and topic rules, end to end."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from openvisor.link import topics
from openvisor.link.broker import EmbeddedBroker
from openvisor.link.identity import DeviceIdentity
from openvisor.link.messages import LogBatch, LogRecord, Message, TimeRequest, TimeSync, encode
from openvisor.link.mqtt import Backoff, MqttDeviceLink, MqttServiceLink, parse_broker_url

SERVICE_PASSWORD = "service-secret"
FAST = Backoff(initial_s=0.05, max_s=0.5)


def wait_until(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


@pytest.fixture
def keys() -> dict[str, str]:
    return {}


@pytest.fixture
def broker(keys: dict[str, str]) -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker(service_password=SERVICE_PASSWORD, device_key=keys.get)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def service(broker: EmbeddedBroker) -> Iterator[tuple[MqttServiceLink, list, list]]:  # type: ignore[type-arg]
    link = MqttServiceLink(
        parse_broker_url(broker.url, username=topics.SERVICE_USERNAME),
        password=SERVICE_PASSWORD,
        backoff=FAST,
    )
    received: list[tuple[str, Message]] = []
    presence: list[tuple[str, bool]] = []
    link.on_message(lambda device_id, message: received.append((device_id, message)))
    link.on_presence(lambda device_id, online: presence.append((device_id, online)))
    link.start()
    assert link.wait_ready(10)
    yield link, received, presence
    link.stop()


def make_device(
    tmp_path: Path, broker: EmbeddedBroker, keys: dict[str, str], name: str
) -> tuple[DeviceIdentity, MqttDeviceLink]:
    identity = DeviceIdentity.create(tmp_path / name)
    keys[identity.device_id] = identity.public_key_pem()
    link = MqttDeviceLink(
        identity.device_id,
        parse_broker_url(broker.url),
        password=identity.mqtt_password,
        state_dir=tmp_path / name,
        backoff=FAST,
    )
    return identity, link


def test_broker_binds_free_loopback_port(broker: EmbeddedBroker) -> None:
    assert broker.url.startswith("mqtt://127.0.0.1:")
    assert broker.port not in (0, 1883)
    with socket.create_connection(("127.0.0.1", broker.port), timeout=2):
        pass


def test_round_trip_and_presence(tmp_path: Path, broker, keys, service) -> None:  # type: ignore[no-untyped-def]
    link_service, received, presence = service
    identity, device = make_device(tmp_path, broker, keys, "a")
    down: list[Message] = []
    device.on_message(down.append)
    device.start()
    assert device.wait_online(10)
    assert device.send(TimeRequest())
    assert wait_until(lambda: (identity.device_id, TimeRequest()) in received)
    link_service.send(identity.device_id, TimeSync(unix_micros=11))
    assert wait_until(lambda: TimeSync(unix_micros=11) in down)
    assert wait_until(lambda: (identity.device_id, True) in presence)
    device.stop()
    assert wait_until(lambda: presence[-1] == (identity.device_id, False))


def test_will_marks_device_offline(tmp_path: Path, broker, keys, service) -> None:  # type: ignore[no-untyped-def]
    _, _, presence = service
    identity, device = make_device(tmp_path, broker, keys, "a")
    device.start()
    assert device.wait_online(10)
    assert wait_until(lambda: (identity.device_id, True) in presence)
    # Cut the TCP connection without DISCONNECT, as a crash or network loss would.
    device._conn._stop.set()
    sock = device._conn.client.socket()
    assert sock is not None
    sock.shutdown(socket.SHUT_RDWR)
    assert wait_until(lambda: presence[-1] == (identity.device_id, False), 15)


def test_durable_messages_wait_for_broker(tmp_path: Path, keys: dict[str, str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    identity = DeviceIdentity.create(tmp_path / "a")
    keys[identity.device_id] = identity.public_key_pem()

    def device_link() -> MqttDeviceLink:
        return MqttDeviceLink(
            identity.device_id,
            parse_broker_url(f"mqtt://127.0.0.1:{port}"),
            password=identity.mqtt_password,
            state_dir=tmp_path / "a",
            backoff=FAST,
        )

    # No broker listens yet: durable messages wait on disk, others are dropped.
    offline = device_link()
    offline.start()
    batches = [LogBatch(records=(LogRecord(seq=i, micros=i, text=b"q"),)) for i in range(5)]
    for batch in batches:
        assert offline.send(batch)
    assert not offline.send(TimeRequest())
    assert offline.pending() == 5
    offline.stop()
    assert len(list((tmp_path / "a" / "link" / "outbox").glob("*.cbor"))) == 5

    broker = EmbeddedBroker(service_password=SERVICE_PASSWORD, device_key=keys.get, port=port)
    broker.start()
    service = MqttServiceLink(
        parse_broker_url(broker.url, username=topics.SERVICE_USERNAME),
        password=SERVICE_PASSWORD,
    )
    received: list[Message] = []
    service.on_message(
        lambda device_id, message: (
            received.append(message) if isinstance(message, LogBatch) else None
        )
    )
    # A new link on the same state directory, as after a process restart.
    device = device_link()
    try:
        service.start()
        assert service.wait_ready(10)
        assert device.pending() == 5
        device.start()
        assert device.wait_online(15)
        assert wait_until(lambda: len(received) == 5, 10)
        assert wait_until(lambda: device.pending() == 0, 10)
    finally:
        device.stop()
        service.stop()
        broker.stop()
    assert received == batches
    assert not list((tmp_path / "a" / "link" / "outbox").glob("*.cbor"))


def test_login_rules(tmp_path: Path, broker: EmbeddedBroker, keys: dict[str, str]) -> None:
    identity = DeviceIdentity.create(tmp_path / "a")
    other = DeviceIdentity.create(tmp_path / "b")
    keys[identity.device_id] = identity.public_key_pem()

    def connack(client_id: str, username: str, password: str) -> int:
        codes: list[int] = []
        client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv311,
        )
        client.username_pw_set(username, password)
        client.on_connect = lambda c, u, f, reason, p: codes.append(reason.value)
        client.connect("127.0.0.1", broker.port)
        deadline = time.monotonic() + 5
        while not codes and time.monotonic() < deadline:
            client.loop(0.05)
        client.disconnect()
        return codes[0] if codes else -1

    good = identity.mqtt_password()
    assert connack(identity.device_id, identity.device_id, good) == 0
    # Signed by another key, an unregistered device, a client id that is not the
    # username, and a wrong service password are all refused.
    assert connack(identity.device_id, identity.device_id, other.mqtt_password()) != 0
    assert connack(other.device_id, other.device_id, other.mqtt_password()) != 0
    assert connack("someone-else", identity.device_id, good) != 0
    assert connack("svc", topics.SERVICE_USERNAME, "wrong") != 0
    assert connack("svc", topics.SERVICE_USERNAME, SERVICE_PASSWORD) == 0


def test_devices_confined_to_own_topics(tmp_path: Path, broker, keys, service) -> None:  # type: ignore[no-untyped-def]
    link_service, received, _ = service
    victim, victim_link = make_device(tmp_path, broker, keys, "victim")
    down: list[Message] = []
    victim_link.on_message(down.append)
    victim_link.start()
    assert victim_link.wait_online(10)
    attacker = DeviceIdentity.create(tmp_path / "attacker")
    keys[attacker.device_id] = attacker.public_key_pem()

    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=attacker.device_id,
        protocol=paho.MQTTv311,
    )
    client.username_pw_set(attacker.device_id, attacker.mqtt_password())
    granted: list[list[int]] = []
    sniffed: list[str] = []
    client.on_subscribe = lambda c, u, mid, codes, p: granted.append([x.value for x in codes])
    client.on_message = lambda c, u, m: sniffed.append(m.topic)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        client.subscribe([(f"ov/d/{victim.device_id}/down/#", 1), ("ov/d/+/up/#", 1), ("#", 1)])
        assert wait_until(lambda: bool(granted))
        assert granted[0] == [0x80, 0x80, 0x80]
        spoof = encode(TimeRequest())
        info = client.publish(f"ov/d/{victim.device_id}/up/time.req", spoof, qos=1)
        info.wait_for_publish(5)
        link_service.send(victim.device_id, TimeSync(unix_micros=5))
        assert wait_until(lambda: TimeSync(unix_micros=5) in down)
        time.sleep(0.3)
    finally:
        client.loop_stop()
        client.disconnect()
        victim_link.stop()
    assert (victim.device_id, TimeRequest()) not in received
    assert sniffed == []


def test_broker_logs_only_real_rejections(  # type: ignore[no-untyped-def]
    tmp_path: Path, broker, keys, service, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="openvisor.link.broker")
    # The first device leaves a retained presence message, so the second
    # device's connect walks the service's wildcard filters with retained
    # messages to match.
    links = []
    for name in ("a", "b"):
        _, link = make_device(tmp_path, broker, keys, name)
        link.start()
        assert link.wait_online(10)
        links.append(link)
    _, _, presence = service
    assert wait_until(lambda: len({device for device, online in presence if online}) == 2)
    for link in links:
        link.stop()
    rejections = [r for r in caplog.records if r.getMessage().startswith("Reject topic access")]
    assert rejections == []

    # A device that subscribes to the service's wildcard filter is rejected and logged.
    rogue = DeviceIdentity.create(tmp_path / "rogue")
    keys[rogue.device_id] = rogue.public_key_pem()
    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=rogue.device_id,
        protocol=paho.MQTTv311,
    )
    client.username_pw_set(rogue.device_id, rogue.mqtt_password())
    granted: list[list[int]] = []
    client.on_subscribe = lambda c, u, mid, codes, p: granted.append([x.value for x in codes])
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        client.subscribe("ov/d/+/up/#", qos=1)
        assert wait_until(lambda: bool(granted))
    finally:
        client.loop_stop()
        client.disconnect()
    assert granted == [[0x80]]
    rejections = [r for r in caplog.records if r.getMessage().startswith("Reject topic access")]
    assert len(rejections) == 1
    assert rejections[0].levelno == logging.WARNING
    assert f"username={rogue.device_id}" in rejections[0].getMessage()
    assert "action=subscribe" in rejections[0].getMessage()
    assert "topic=ov/d/+/up/#" in rejections[0].getMessage()
