"""Network and channel calls from compiled firmware against a scripted cloud.

firmware/apps/n_calls makes the calls n_channels does not (network reasons
and release, stream writes, MQTT lost messages and unsubscribe, closure by
the server). The cloud side here is an in-memory service link that replies
with fixed messages, so the test controls exactly what the app receives.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from openvisor.device import AppImage, Device, DeviceConfig, DeviceState
from openvisor.kernel.calls.server_log import ServerLog
from openvisor.kernel.net import attach
from openvisor.link import messages as msg
from openvisor.link.identity import DeviceIdentity
from openvisor.link.memory import MemoryHub, MemoryServiceLink

BIG = 2000  # bytes: more than the app's 1024-byte receive buffer


class ScriptedCloud:
    """Replies to the app's requests with fixed messages and records every request."""

    def __init__(self, service: MemoryServiceLink) -> None:
        self.service = service
        self.requests: list[msg.Message] = []
        service.on_message(self.handle)

    def handle(self, device_id: str, message: msg.Message) -> None:
        self.requests.append(message)
        send = self.service.send
        if isinstance(message, msg.ChannelData):
            send(device_id, msg.ChannelData(channel=message.channel, data=message.data))
        elif isinstance(message, msg.MqttRequest):
            channel, op = message.channel, message.op
            if op == "connect":
                send(
                    device_id,
                    msg.MqttEvent(
                        channel=channel,
                        event="connect",
                        args={"request_state": 0, "reason_code": 0},
                    ),
                )
            elif op == "subscribe":
                send(
                    device_id,
                    msg.MqttEvent(
                        channel=channel,
                        event="subscribe",
                        correlation_id=message.correlation_id,
                        args={"request_state": 0, "reason_codes": [1]},
                    ),
                )
                send(
                    device_id,
                    msg.MqttEvent(
                        channel=channel,
                        event="message",
                        correlation_id=500,
                        args={
                            "topic": b"big/one",
                            "payload": b"x" * BIG,
                            "qos": 1,
                            "retain": False,
                        },
                    ),
                )
            elif op == "unsubscribe":
                send(
                    device_id,
                    msg.MqttEvent(
                        channel=channel,
                        event="unsubscribe",
                        correlation_id=message.correlation_id,
                        args={"request_state": 0, "reason_codes": [0]},
                    ),
                )
                send(device_id, msg.ChannelClose(channel=channel, reason=1))


def test_n_calls(tmp_path: Path, firmware: Callable[[str], Path]) -> None:
    identity = DeviceIdentity.create(tmp_path)
    hub = MemoryHub()
    service = hub.service_link()
    cloud = ScriptedCloud(service)
    service.start()
    link = hub.device_link(identity.device_id, state_dir=tmp_path)
    device = Device(
        tmp_path,
        image=AppImage.from_path(firmware("n_calls")),
        link=link,
        config=DeviceConfig(factory_test=True, seed=3),
        device_id=identity.device_id,
    )
    attach(device.kernel)
    link.start()
    device.boot()
    device.run_for(60.0, until=lambda: device.state is DeviceState.FINISHED)
    device.run_for(0.1)

    sent = [
        record.text.decode()
        for message in cloud.requests
        if isinstance(message, msg.LogBatch)
        for record in message.records
    ]
    # Logs leave only while the app has a network request open, so the lines
    # logged after mvReleaseNetwork wait in the kernel's queue.
    held = [record.text for record in device.kernel.family_state(ServerLog).take()]
    lines = sent + held
    assert device.test_status == 0, lines
    assert "n_calls: stream wrote 1024, read back 1024" in sent
    assert f"n_calls: lost message on big/one, {BIG} bytes" in sent
    assert "n_calls: unsubscribe response 21 (state 0, 1 codes)" in lines
    assert "n_calls: channel closed by server (reason 1)" in lines
    assert held[-2:] == [
        "n_calls: network released (0 requests left)",
        "n_calls finished (failed step 0)",
    ]

    data = [m for m in cloud.requests if isinstance(m, msg.ChannelData)]
    assert [len(m.data) for m in data] == [1024]
    assert data[0].data == bytes((i * 7) & 0xFF for i in range(1024))
    mqtt = [m for m in cloud.requests if isinstance(m, msg.MqttRequest)]
    assert [m.op for m in mqtt] == ["connect", "subscribe", "ack", "unsubscribe"]
    assert mqtt[2].correlation_id == 500
    assert mqtt[3].args == {"topics": ["big/#"]}
    closes = [m for m in cloud.requests if isinstance(m, msg.ChannelClose)]
    # The opaque channel's close reaches the cloud; the MQTT channel was already
    # closed by the cloud, so the app's mvCloseChannel sends nothing more.
    assert [m.reason for m in closes] == [6]
