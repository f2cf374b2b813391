"""The link on a private Mosquitto: the documented ACL, a broker restart and TLS."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from openvisor.link import topics
from openvisor.link.identity import DeviceIdentity
from openvisor.link.messages import (
    Hello,
    LogBatch,
    LogRecord,
    Message,
    TimeRequest,
    TimeSync,
    encode,
)
from openvisor.link.mqtt import Backoff, MqttDeviceLink, MqttServiceLink, parse_broker_url

FAST = Backoff(initial_s=0.05, max_s=0.5)
SERVICE_PASSWORD = "service-pw"


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def write_auth(folder: Path, accounts: dict[str, str]) -> list[str]:
    """Write a password file and the link's ACL file; return the config lines using them."""
    passwd = folder / "passwd"
    for index, (user, password) in enumerate(accounts.items()):
        create = ["-c"] if index == 0 else []
        subprocess.run(["mosquitto_passwd", "-b", *create, str(passwd), user, password], check=True)
    acl = folder / "acl"
    acl.write_text(topics.mosquitto_acl())
    return ["allow_anonymous false", f"password_file {passwd}", f"acl_file {acl}"]


def service_link(url: str, **kwargs: Any) -> tuple[MqttServiceLink, list[tuple[str, Message]]]:
    link = MqttServiceLink(
        parse_broker_url(url, username=topics.SERVICE_USERNAME),
        password=SERVICE_PASSWORD,
        backoff=FAST,
        **kwargs,
    )
    received: list[tuple[str, Message]] = []
    link.on_message(lambda device_id, message: received.append((device_id, message)))
    return link, received


def test_acl_confines_devices(tmp_path: Path, mosquitto) -> None:  # type: ignore[no-untyped-def]
    victim = DeviceIdentity.create(tmp_path / "victim")
    attacker = DeviceIdentity.create(tmp_path / "attacker")
    auth_dir = tmp_path / "auth"
    auth_dir.mkdir()
    lines = write_auth(
        auth_dir,
        {
            topics.SERVICE_USERNAME: SERVICE_PASSWORD,
            victim.device_id: "victim-secret",
            attacker.device_id: "attacker-secret",
        },
    )
    broker = mosquitto(*lines)
    service, received = service_link(broker.url)
    service.start()
    assert service.wait_ready(10)
    device = MqttDeviceLink(
        victim.device_id, parse_broker_url(broker.url), password="victim-secret", backoff=FAST
    )
    down: list[Message] = []
    device.on_message(down.append)
    device.start()
    assert device.wait_online(10)

    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=attacker.device_id,
        protocol=paho.MQTTv311,
    )
    client.username_pw_set(attacker.device_id, "attacker-secret")
    sniffed: list[str] = []
    client.on_message = lambda c, u, m: sniffed.append(m.topic)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        # Mosquitto grants the subscription but delivers nothing the ACL forbids.
        client.subscribe([("#", 1), (f"ov/d/{victim.device_id}/down/#", 1)])
        time.sleep(0.3)
        client.publish(f"ov/d/{victim.device_id}/up/time.req", encode(TimeRequest()), qos=1)
        device.send(TimeRequest())
        service.send(victim.device_id, TimeSync(unix_micros=8))
        assert wait_until(lambda: TimeSync(unix_micros=8) in down)
        assert wait_until(lambda: len(received) >= 1)
        time.sleep(0.3)
    finally:
        client.loop_stop()
        client.disconnect()
        device.stop()
        service.stop()
    assert [item for item in received if not isinstance(item[1], Hello)] == [
        (victim.device_id, TimeRequest())
    ]
    assert sniffed == []

    # A wrong password is refused outright.
    codes: list[int] = []
    intruder = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=victim.device_id,
        protocol=paho.MQTTv311,
    )
    intruder.username_pw_set(victim.device_id, "guess")
    intruder.on_connect = lambda c, u, f, reason, p: codes.append(reason.value)
    intruder.connect("127.0.0.1", broker.port)
    wait_until(lambda: intruder.loop(0.05) is not None and bool(codes), 5)
    assert codes and codes[0] != 0


def test_broker_restart_loses_no_qos1_message(tmp_path: Path, mosquitto) -> None:  # type: ignore[no-untyped-def]
    identity = DeviceIdentity.create(tmp_path / "dev")
    auth_dir = tmp_path / "auth"
    auth_dir.mkdir()
    lines = write_auth(
        auth_dir, {topics.SERVICE_USERNAME: SERVICE_PASSWORD, identity.device_id: "dev-secret"}
    )
    store = tmp_path / "store"
    store.mkdir()
    broker = mosquitto(*lines, "persistence true", f"persistence_location {store}/")
    service, received = service_link(broker.url, client_id="svc-restart-test")
    service.start()
    assert service.wait_ready(10)
    device = MqttDeviceLink(
        identity.device_id,
        parse_broker_url(broker.url),
        password="dev-secret",
        state_dir=tmp_path / "dev",
        backoff=FAST,
    )
    device.start()
    assert device.wait_online(10)

    total = 60
    sent = threading.Event()

    def produce() -> None:
        for seq in range(total):
            device.send(LogBatch(records=(LogRecord(seq=seq, micros=seq, text=b"n"),)))
            time.sleep(0.02)
        sent.set()

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(0.3)
    broker.stop()
    time.sleep(0.6)
    broker.start()
    producer.join(10)
    assert sent.is_set()

    def seqs() -> set[int]:
        return {r.seq for _, m in list(received) if isinstance(m, LogBatch) for r in m.records}

    try:
        assert wait_until(lambda: seqs() == set(range(total)), 30), sorted(
            set(range(total)) - seqs()
        )
        assert wait_until(lambda: device.pending() == 0, 10)
    finally:
        device.stop()
        service.stop()
    assert not list((tmp_path / "dev" / "link" / "outbox").glob("*.cbor"))


def test_tls_client_certificates(tmp_path: Path, mosquitto, test_ca) -> None:  # type: ignore[no-untyped-def]
    identity = DeviceIdentity.create(tmp_path / "dev")
    server_cert, server_key = test_ca.issue("localhost", server=True)
    device_cert, _ = test_ca.issue(identity.device_id, public_key=identity.private_key.public_key())
    service_cert, service_key = test_ca.issue(topics.SERVICE_USERNAME)
    acl = tmp_path / "acl"
    acl.write_text(topics.mosquitto_acl())
    broker = mosquitto(
        f"cafile {test_ca.cert_path}",
        f"certfile {server_cert}",
        f"keyfile {server_key}",
        "require_certificate true",
        "use_identity_as_username true",
        f"acl_file {acl}",
    )
    url = f"mqtts://127.0.0.1:{broker.port}"
    service = MqttServiceLink(
        parse_broker_url(
            url, ca_file=test_ca.cert_path, cert_file=service_cert, key_file=service_key
        ),
        backoff=FAST,
    )
    received: list[tuple[str, Message]] = []
    service.on_message(lambda device_id, message: received.append((device_id, message)))
    service.start()
    assert service.wait_ready(10)
    device = MqttDeviceLink(
        identity.device_id,
        parse_broker_url(
            url,
            ca_file=test_ca.cert_path,
            cert_file=device_cert,
            key_file=tmp_path / "dev" / "identity" / "device-key.pem",
        ),
        backoff=FAST,
    )
    down: list[Message] = []
    device.on_message(down.append)
    device.start()
    try:
        assert device.wait_online(10)
        device.send(TimeRequest())
        service.send(identity.device_id, TimeSync(unix_micros=2))
        assert wait_until(lambda: (identity.device_id, TimeRequest()) in received)
        assert wait_until(lambda: TimeSync(unix_micros=2) in down)
    finally:
        device.stop()
        service.stop()

    # Without a client certificate the TLS handshake fails and the link stays offline.
    stranger = MqttDeviceLink(
        identity.device_id, parse_broker_url(url, ca_file=test_ca.cert_path), backoff=FAST
    )
    stranger.start()
    try:
        assert not stranger.wait_online(1.5)
    finally:
        stranger.stop()


def test_failed_callback_is_redelivered(tmp_path: Path, mosquitto) -> None:  # type: ignore[no-untyped-def]
    identity = DeviceIdentity.create(tmp_path / "dev")
    auth_dir = tmp_path / "auth"
    auth_dir.mkdir()
    lines = write_auth(
        auth_dir, {topics.SERVICE_USERNAME: SERVICE_PASSWORD, identity.device_id: "dev-secret"}
    )
    broker = mosquitto(*lines)
    attempts: list[Message] = []

    def failing(device_id: str, message: Message) -> None:
        attempts.append(message)
        raise RuntimeError("database unavailable")

    first, _ = service_link(broker.url, client_id="svc-redeliver")
    first.on_message(failing)
    first.start()
    assert first.wait_ready(10)
    device = MqttDeviceLink(
        identity.device_id, parse_broker_url(broker.url), password="dev-secret", backoff=FAST
    )
    device.start()
    batch = LogBatch(records=(LogRecord(seq=1, micros=1, text=b"kept"),))
    try:
        assert device.wait_online(10)
        device.send(batch)
        assert wait_until(lambda: batch in attempts)
        first.stop()

        # The same session resumes: the unacknowledged batch comes back.
        second, received = service_link(broker.url, client_id="svc-redeliver")
        second.start()
        try:
            assert wait_until(lambda: (identity.device_id, batch) in received)
        finally:
            second.stop()
    finally:
        device.stop()
    assert attempts.count(batch) == 1
