"""NETWORK system notifications reach compiled firmware when the cloud link goes down and up.

The device joins an in-memory hub, where cutting the hub's connection to it
is a network outage, or an embedded MQTT broker on loopback that the test
stops and starts again. k_harness opens a notification centre on TIM8_BRK and
subscribes it to the NETWORK source through mvOpenSystemNotification.
"""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path
from typing import Any

from openvisor.kernel.abi import MvEventType, MvStatus, MvSystemNotificationSource
from openvisor.link.broker import EmbeddedBroker
from openvisor.link.identity import DeviceIdentity
from openvisor.link.memory import MemoryHub
from openvisor.link.mqtt import Backoff, MqttDeviceLink, parse_broker_url

TIM8_BRK = 51
IRQ_COUNT_OFFSET = 40
TAG = 0x4E45
SLOTS = 4


def subscribe(harness: Any, source: int) -> tuple[int, int]:
    """Open a centre and a system-notification subscription and return (handle, ring address)."""
    ring = harness.buffer(2048, 16 * SLOTS)
    setup = harness.buffer(0, 12)
    harness.write(setup, struct.pack("<III", TIM8_BRK, ring, 16 * SLOTS))
    centre_out = harness.buffer(64, 4)
    assert harness.call("mvSetupNotifications", setup, centre_out) == MvStatus.OKAY
    params = harness.buffer(128, 12)
    harness.write(params, struct.pack("<III", harness.read_u32(centre_out), TAG, source))
    out = harness.buffer(192, 4)
    assert harness.call("mvOpenSystemNotification", params, out) == MvStatus.OKAY
    handle = harness.read_u32(out)
    assert handle != 0
    return handle, ring


def events(harness: Any, ring: int) -> list[tuple[int, int]]:
    """(event type, tag) of each ring slot, NOEVENT slots included."""
    data = harness.read(ring, 16 * SLOTS)
    return [struct.unpack_from("<QII", data, 16 * i)[1:] for i in range(SLOTS)]


def linked_harness(make_harness: Any, tmp_path: Path) -> tuple[Any, MemoryHub, str]:
    hub = MemoryHub()
    device_id = DeviceIdentity.create(tmp_path / "identity").device_id
    link = hub.device_link(device_id, state_dir=tmp_path / "link")
    harness = make_harness(link=link, device_id=device_id)
    assert link.online
    return harness, hub, device_id


def test_network_subscriber_sees_link_down_and_up(make_harness: Any, tmp_path: Path) -> None:
    harness, hub, device_id = linked_harness(make_harness, tmp_path)
    _, ring = subscribe(harness, MvSystemNotificationSource.NETWORK)
    harness.settle()
    irqs = harness.field(IRQ_COUNT_OFFSET)
    assert events(harness, ring) == [(MvEventType.NOEVENT, 0)] * SLOTS

    hub.set_reachable(device_id, False)
    harness.settle()
    assert events(harness, ring)[0] == (MvEventType.NETWORKSTATUSCHANGED, TAG)
    assert events(harness, ring)[1] == (MvEventType.NOEVENT, 0)
    assert harness.field(IRQ_COUNT_OFFSET) == irqs + 1

    hub.set_reachable(device_id, True)
    harness.settle()
    assert events(harness, ring)[1] == (MvEventType.NETWORKSTATUSCHANGED, TAG)
    assert events(harness, ring)[2] == (MvEventType.NOEVENT, 0)
    assert harness.field(IRQ_COUNT_OFFSET) == irqs + 2


def test_update_subscriber_ignores_link_changes(make_harness: Any, tmp_path: Path) -> None:
    harness, hub, device_id = linked_harness(make_harness, tmp_path)
    _, ring = subscribe(harness, MvSystemNotificationSource.UPDATE)
    irqs = harness.field(IRQ_COUNT_OFFSET)
    hub.set_reachable(device_id, False)
    harness.settle()
    hub.set_reachable(device_id, True)
    harness.settle()
    assert events(harness, ring) == [(MvEventType.NOEVENT, 0)] * SLOTS
    assert harness.field(IRQ_COUNT_OFFSET) == irqs


def test_closed_network_subscription_gets_nothing(make_harness: Any, tmp_path: Path) -> None:
    harness, hub, device_id = linked_harness(make_harness, tmp_path)
    handle, ring = subscribe(harness, MvSystemNotificationSource.NETWORK)
    slot = harness.buffer(256, 4)
    harness.write_u32(slot, handle)
    assert harness.call("mvCloseSystemNotification", slot) == MvStatus.OKAY
    hub.set_reachable(device_id, False)
    harness.settle()
    assert events(harness, ring) == [(MvEventType.NOEVENT, 0)] * SLOTS


def wait_for_event(harness: Any, ring: int, slot: int, timeout_s: float = 15.0) -> bool:
    """Run the device in small slices until ring ``slot`` contains an event or ``timeout_s`` passes.

    The MQTT link reports status changes from its own thread, so the wait is in wall time.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        harness.device.run_for(0.001)
        if events(harness, ring)[slot][0] != MvEventType.NOEVENT:
            return True
        time.sleep(0.01)
    return False


def test_network_subscriber_over_mqtt_link(make_harness: Any, tmp_path: Path) -> None:
    keys: dict[str, str] = {}
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    identity = DeviceIdentity.create(tmp_path / "identity")
    keys[identity.device_id] = identity.public_key_pem()
    broker = EmbeddedBroker(service_password="network-test", device_key=keys.get, port=port)
    broker.start()
    link = MqttDeviceLink(
        identity.device_id,
        parse_broker_url(broker.url),
        password=identity.mqtt_password,
        state_dir=tmp_path / "link",
        backoff=Backoff(initial_s=0.05, max_s=0.5),
    )
    try:
        harness = make_harness(link=link, device_id=identity.device_id)
        assert link.wait_online(10)
        _, ring = subscribe(harness, MvSystemNotificationSource.NETWORK)
        harness.settle()
        # The link may come up after the subscription: that change is event 0.
        first = 1 if events(harness, ring)[0][0] != MvEventType.NOEVENT else 0

        broker.stop()
        assert wait_for_event(harness, ring, first), "no event after the broker stopped"
        assert events(harness, ring)[first] == (MvEventType.NETWORKSTATUSCHANGED, TAG)
        assert not link.online

        broker = EmbeddedBroker(service_password="network-test", device_key=keys.get, port=port)
        broker.start()
        assert wait_for_event(harness, ring, first + 1), "no event after the broker came back"
        assert events(harness, ring)[first + 1] == (MvEventType.NETWORKSTATUSCHANGED, TAG)
        assert link.online
    finally:
        link.stop()
        broker.stop()
