"""The in-memory link: delivery, offline queueing and held cloud messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from openvisor.errors import LinkError
from openvisor.link.memory import MemoryHub
from openvisor.link.messages import (
    HttpRequest,
    LogBatch,
    LogRecord,
    Message,
    TimeRequest,
    TimeSync,
)

DEVICE = "UV" + "1" * 32


def _log(seq: int) -> LogBatch:
    return LogBatch(records=(LogRecord(seq=seq, micros=0, text=b"m"),))


@pytest.fixture
def hub() -> MemoryHub:
    return MemoryHub()


def test_delivery_both_ways(hub: MemoryHub) -> None:
    service = hub.service_link()
    up: list[tuple[str, Message]] = []
    presence: list[tuple[str, bool]] = []
    service.on_message(lambda device_id, message: up.append((device_id, message)))
    service.on_presence(lambda device_id, online: presence.append((device_id, online)))
    service.start()
    device = hub.device_link(DEVICE)
    down: list[Message] = []
    device.on_message(down.append)
    device.start()

    assert device.send(TimeRequest())
    service.send(DEVICE, TimeSync(unix_micros=3))
    assert up == [(DEVICE, TimeRequest())]
    assert down == [TimeSync(unix_micros=3)]
    assert presence == [(DEVICE, True)]


def test_offline_queues_durable_and_drops_others(hub: MemoryHub) -> None:
    service = hub.service_link()
    up: list[Message] = []
    service.on_message(lambda device_id, message: up.append(message))
    service.start()
    device = hub.device_link(DEVICE)
    statuses: list[bool] = []
    device.on_status(statuses.append)
    device.start()

    hub.set_reachable(DEVICE, False)
    assert device.send(_log(1))
    assert not device.send(HttpRequest(channel=1, method="GET"))
    assert device.pending() == 1
    assert up == []

    hub.set_reachable(DEVICE, True)
    assert up == [_log(1)]
    assert device.pending() == 0
    assert statuses == [True, False, True]


def test_cloud_messages_held_while_offline(hub: MemoryHub) -> None:
    service = hub.service_link()
    service.start()
    device = hub.device_link(DEVICE)
    down: list[Message] = []
    device.on_message(down.append)
    device.start()
    hub.set_reachable(DEVICE, False)
    service.send(DEVICE, TimeSync(unix_micros=9))
    assert down == []
    hub.set_reachable(DEVICE, True)
    assert down == [TimeSync(unix_micros=9)]


def test_outbox_survives_new_link(hub: MemoryHub, tmp_path: Path) -> None:
    hub.set_reachable(DEVICE, False)
    first = hub.device_link(DEVICE, state_dir=tmp_path)
    first.start()
    first.send(_log(1))
    first.send(_log(2))
    first.stop()

    service = hub.service_link()
    up: list[Message] = []
    service.on_message(lambda device_id, message: up.append(message))
    service.start()
    hub.set_reachable(DEVICE, True)
    second = hub.device_link(DEVICE, state_dir=tmp_path)
    assert second.pending() == 2
    second.start()
    assert up == [_log(1), _log(2)]
    assert second.pending() == 0


def test_service_rejects_upward_kinds(hub: MemoryHub) -> None:
    with pytest.raises(LinkError, match="cannot be sent to a device"):
        hub.service_link().send(DEVICE, TimeRequest())
