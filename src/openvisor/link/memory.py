"""An in-memory device link: devices and a service joined by direct calls.

Unit tests use it in place of a broker. Messages are encoded and decoded on
the way, exactly as over MQTT, so an unencodable message fails here too.
Delivery is synchronous on the sender's thread. A device can be taken
offline with `MemoryHub.set_reachable` to exercise queueing.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from openvisor.errors import LinkError
from openvisor.link import messages
from openvisor.link.base import (
    DeviceLink,
    PresenceCallback,
    ServiceLink,
    ServiceMessageCallback,
)
from openvisor.link.messages import Message
from openvisor.link.outbox import Outbox

log = logging.getLogger(__name__)


class MemoryHub:
    """The meeting point of in-memory device links and one service link.

    Example::

        hub = MemoryHub()
        service = hub.service_link()
        service.on_message(lambda device_id, message: print(device_id, message))
        device = hub.device_link("UV" + "0" * 32)
        device.start()
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._devices: dict[str, MemoryDeviceLink] = {}
        self._services: list[MemoryServiceLink] = []
        self._unreachable: set[str] = set()

    def device_link(self, device_id: str, *, state_dir: Path | None = None) -> MemoryDeviceLink:
        """Create the link of ``device_id``; with ``state_dir`` its outbox is persisted."""
        folder = state_dir / "link" / "outbox" if state_dir is not None else None
        link = MemoryDeviceLink(self, device_id, Outbox(folder))
        with self._lock:
            self._devices[device_id] = link
        return link

    def service_link(self) -> MemoryServiceLink:
        """Create a service-side link that sees every device."""
        link = MemoryServiceLink(self)
        with self._lock:
            self._services.append(link)
        return link

    def set_reachable(self, device_id: str, reachable: bool) -> None:
        """Cut or restore one device's connection, as a network outage would."""
        with self._lock:
            if reachable:
                self._unreachable.discard(device_id)
            else:
                self._unreachable.add(device_id)
            link = self._devices.get(device_id)
        if link is not None:
            link._set_connected(reachable and link._started)

    def is_reachable(self, device_id: str) -> bool:
        """Return whether ``device_id`` can connect."""
        with self._lock:
            return device_id not in self._unreachable

    def _deliver_up(self, device_id: str, payload: bytes) -> None:
        message = messages.decode(payload)
        with self._lock:
            services = [s for s in self._services if s._started]
        for service in services:
            service._dispatch(device_id, message)

    def _deliver_down(self, device_id: str, payload: bytes) -> bool:
        with self._lock:
            link = self._devices.get(device_id)
        if link is None or not link.online:
            return False
        link._dispatch(messages.decode(payload))
        return True

    def _presence(self, device_id: str, online: bool) -> None:
        with self._lock:
            services = [s for s in self._services if s._started]
        for service in services:
            service._presence(device_id, online)


class MemoryDeviceLink(DeviceLink):
    """A device's in-memory link; see `MemoryHub`."""

    def __init__(self, hub: MemoryHub, device_id: str, outbox: Outbox) -> None:
        super().__init__(outbox)
        self.device_id = device_id
        self._hub = hub
        self._lock = threading.RLock()
        self._started = False
        self._connected = False
        # Cloud-to-device messages sent while the device was away, kept as a
        # broker keeps QoS 1 messages for a persistent session.
        self._held: list[bytes] = []

    def start(self) -> None:
        """Connect at once if the hub lets this device through."""
        self._started = True
        self._set_connected(self._hub.is_reachable(self.device_id))

    def stop(self) -> None:
        """Disconnect; durable messages stay queued."""
        self._set_connected(False)
        self._started = False

    @property
    def online(self) -> bool:
        """Whether the device is connected to the hub."""
        return self._connected

    def send(self, message: Message) -> bool:
        """Deliver ``message`` now, or queue it when durable and offline."""
        payload = messages.encode(message)
        if message.DURABLE:
            seq = self._outbox.put(message)
            if self._connected:
                self._flush_one(seq, payload)
            return True
        if not self._connected:
            return False
        self._hub._deliver_up(self.device_id, payload)
        return True

    def _flush_one(self, seq: int, payload: bytes) -> None:
        self._hub._deliver_up(self.device_id, payload)
        self._outbox.remove(seq)

    def _set_connected(self, connected: bool) -> None:
        with self._lock:
            if connected == self._connected:
                return
            self._connected = connected
        log.info("Set memory link state (device=%s, online=%s)", self.device_id, connected)
        self._hub._presence(self.device_id, connected)
        for callback in list(self._status_callbacks):
            callback(connected)
        if connected:
            for seq, message in self._outbox.items():
                self._flush_one(seq, messages.encode(message))
            held, self._held = self._held, []
            for payload in held:
                self._dispatch(messages.decode(payload))

    def _hold(self, payload: bytes) -> None:
        self._held.append(payload)

    def _dispatch(self, message: Message) -> None:
        for callback in list(self._message_callbacks):
            callback(message)


class MemoryServiceLink(ServiceLink):
    """The service side of a `MemoryHub`."""

    def __init__(self, hub: MemoryHub) -> None:
        self._hub = hub
        self._started = False
        self._message_callbacks: list[ServiceMessageCallback] = []
        self._presence_callbacks: list[PresenceCallback] = []

    def start(self) -> None:
        """Begin receiving device messages."""
        self._started = True

    def stop(self) -> None:
        """Stop receiving."""
        self._started = False

    def send(self, device_id: str, message: Message) -> None:
        """Deliver to the device now, or hold the message until it reconnects."""
        if message.KIND not in messages.DOWN_KINDS:
            raise LinkError(f"message kind {message.KIND!r} cannot be sent to a device")
        payload = messages.encode(message)
        if not self._hub._deliver_down(device_id, payload):
            with self._hub._lock:
                link = self._hub._devices.get(device_id)
            if link is not None:
                link._hold(payload)

    def on_message(self, callback: ServiceMessageCallback) -> None:
        """Register ``callback(device_id, message)``."""
        self._message_callbacks.append(callback)

    def on_presence(self, callback: PresenceCallback) -> None:
        """Register ``callback(device_id, online)``."""
        self._presence_callbacks.append(callback)

    def _dispatch(self, device_id: str, message: Message) -> None:
        for callback in list(self._message_callbacks):
            callback(device_id, message)

    def _presence(self, device_id: str, online: bool) -> None:
        for callback in list(self._presence_callbacks):
            callback(device_id, online)
