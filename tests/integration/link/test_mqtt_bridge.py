"""MQTT channels bridged by the service to a broker the app names (a private Mosquitto)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from openvisor.cloud.devicelink import MqttBridge, MqttBridgePolicy
from openvisor.link.messages import ChannelClose, Message, MqttEvent, MqttRequest

DEVICE = "UV" + "7" * 32
CHANNEL = 0x1234


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


class Events:
    """Collects what the bridge sends to the device."""

    def __init__(self) -> None:
        self.items: list[Message] = []

    def __call__(self, device_id: str, message: Message) -> None:
        assert device_id == DEVICE
        self.items.append(message)

    def of(self, event: str) -> list[MqttEvent]:
        return [m for m in self.items if isinstance(m, MqttEvent) and m.event == event]

    def wait(self, event: str, count: int = 1) -> list[MqttEvent]:
        assert wait_until(lambda: len(self.of(event)) >= count), (event, self.items)
        return self.of(event)


def request(bridge: MqttBridge, op: str, correlation_id: int = 0, **args: Any) -> None:
    bridge.handle(
        DEVICE, MqttRequest(channel=CHANNEL, op=op, correlation_id=correlation_id, args=args)
    )


def app_side_client(port: int) -> paho.Client:
    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id="app-peer",
        protocol=paho.MQTTv311,
    )
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


@pytest.fixture
def app_broker(mosquitto):  # type: ignore[no-untyped-def]
    return mosquitto("allow_anonymous true")


def test_bridge_round_trip(app_broker) -> None:  # type: ignore[no-untyped-def]
    events = Events()
    bridge = MqttBridge(events)
    peer = app_side_client(app_broker.port)
    peer_got: list[tuple[str, bytes]] = []
    peer.on_message = lambda c, u, m: peer_got.append((m.topic, m.payload))
    peer.subscribe("up/#", 1)
    try:
        request(bridge, "publish", 1, topic="up/early", payload=b"x", qos=1)
        assert events.wait("publish")[0].args["request_state"] == 3  # NOTCONNECTED

        request(
            bridge,
            "connect",
            host="127.0.0.1",
            port=app_broker.port,
            client_id="dev-app",
            keepalive=30,
            clean_start=True,
            protocol_version=0,
        )
        connect = events.wait("connect")[0]
        assert connect.args == {"request_state": 0, "reason_code": 0}

        request(bridge, "subscribe", 5, topics=[["down/#", 1]])
        subscribe = events.wait("subscribe")[0]
        assert (subscribe.correlation_id, subscribe.args["reason_codes"]) == (5, [1])

        request(bridge, "publish", 6, topic="up/t", payload=b"hello", qos=1, retain=False)
        publish = events.wait("publish", 2)[1]
        assert (publish.correlation_id, publish.args["request_state"]) == (6, 0)
        assert wait_until(lambda: ("up/t", b"hello") in peer_got)

        peer.publish("down/x", b"to device", qos=1).wait_for_publish(5)
        message = events.wait("message")[0]
        assert message.args["topic"] == b"down/x"
        assert message.args["payload"] == b"to device"
        assert message.args["qos"] == 1
        request(bridge, "ack", message.correlation_id)

        request(bridge, "unsubscribe", 7, topics=["down/#"])
        assert events.wait("unsubscribe")[0].correlation_id == 7
        request(bridge, "disconnect")
        disconnect = events.wait("disconnect")[0]
        assert disconnect.args == {"request_state": 0, "disconnect_code": 0}
        time.sleep(0.2)
        assert not [m for m in events.items if isinstance(m, ChannelClose)]
    finally:
        peer.loop_stop()
        peer.disconnect()
        bridge.close()


def test_unacknowledged_message_is_redelivered(app_broker) -> None:  # type: ignore[no-untyped-def]
    events = Events()
    bridge = MqttBridge(events)
    common = {
        "host": "127.0.0.1",
        "port": app_broker.port,
        "client_id": "dev-persist",
        "keepalive": 30,
        "clean_start": False,
    }
    peer = app_side_client(app_broker.port)
    try:
        request(bridge, "connect", **common)
        events.wait("connect")
        request(bridge, "subscribe", 1, topics=[["jobs", 1]])
        events.wait("subscribe")
        peer.publish("jobs", b"job-1", qos=1).wait_for_publish(5)
        first = events.wait("message")[0]
        # The app never acknowledges; the channel goes away and a new one connects
        # with the same persistent session.
        bridge.close_channel(DEVICE, CHANNEL)
        time.sleep(0.3)
        request(bridge, "connect", **common)
        events.wait("connect", 2)
        again = events.wait("message", 2)[1]
        assert again.args["payload"] == b"job-1"
        assert again.correlation_id != first.correlation_id
    finally:
        peer.loop_stop()
        peer.disconnect()
        bridge.close()


def test_broker_drop_closes_channel(tmp_path, mosquitto) -> None:  # type: ignore[no-untyped-def]
    broker = mosquitto("allow_anonymous true")
    events = Events()
    bridge = MqttBridge(events)
    try:
        request(
            bridge,
            "connect",
            host="127.0.0.1",
            port=broker.port,
            client_id="dev-drop",
            keepalive=30,
            clean_start=True,
        )
        events.wait("connect")
        broker.stop()
        disconnect = events.wait("disconnect")[0]
        assert disconnect.args["request_state"] == 3  # NOTCONNECTED
        assert wait_until(lambda: ChannelClose(channel=CHANNEL, reason=4) in events.items)
    finally:
        bridge.close()


@pytest.mark.parametrize(
    ("host", "state"),
    [("10.0.0.1", 7), ("127.0.0.1", 7)],
    ids=["off-allow-list", "refused"],
)
def test_connect_failures(host: str, state: int) -> None:
    events = Events()
    policy = MqttBridgePolicy(allow_hosts=("127.0.0.1",), connect_timeout_s=2)
    bridge = MqttBridge(events, policy)
    try:
        # Port 9 (discard) is closed on loopback, so a connect there is refused.
        request(bridge, "connect", host=host, port=9, client_id="c")
        assert events.wait("connect")[0].args["request_state"] == state
    finally:
        bridge.close()
