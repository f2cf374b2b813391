"""The device-link interfaces: the device's side and the service's side.

A `DeviceLink` is the kernel's only way to the cloud. It sends typed
messages (`openvisor.link.messages`) and hands received ones to callbacks.
A `ServiceLink` is the cloud's view of the same traffic: messages from any
device, presence changes, and a way to send to one device.

Callbacks run on the link's own thread (MQTT network thread, or the
caller's thread for the in-memory link); they must not block and must not
touch emulator state directly. The kernel queues what it receives and
applies it between CPU slices.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

from openvisor.link.messages import Message
from openvisor.link.outbox import Outbox

MessageCallback = Callable[[Message], None]
StatusCallback = Callable[[bool], None]
ServiceMessageCallback = Callable[[str, Message], None]
PresenceCallback = Callable[[str, bool], None]


class DeviceLink(abc.ABC):
    """One device's connection to the cloud.

    ``send`` never blocks and never raises for a lost connection: a durable
    message (``Message.DURABLE``: logs, reports) is queued, persisted in the
    device state directory and delivered with QoS 1 once connected; any other
    message is dropped while offline, and the caller learns that from
    ``online`` beforehand. Example::

        link = MemoryHub().device_link("UV" + "0" * 32)
        link.on_message(inbox.put)
        link.start()
        link.send(LogBatch(records=(LogRecord(seq=1, micros=0, text=b"hi"),)))
    """

    device_id: str

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox
        self._message_callbacks: list[MessageCallback] = []
        self._status_callbacks: list[StatusCallback] = []

    @abc.abstractmethod
    def start(self) -> None:
        """Start connecting in the background; reconnects until `stop`."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Announce the device offline and disconnect; queued durable messages stay on disk."""

    @property
    @abc.abstractmethod
    def online(self) -> bool:
        """Whether the link is connected to the broker right now."""

    @abc.abstractmethod
    def send(self, message: Message) -> bool:
        """Send ``message``; return False when a non-durable message was dropped offline."""

    def on_message(self, callback: MessageCallback) -> None:
        """Register ``callback`` for every message the cloud sends this device."""
        self._message_callbacks.append(callback)

    def on_status(self, callback: StatusCallback) -> None:
        """Register ``callback(online)`` for every connect and disconnect."""
        self._status_callbacks.append(callback)

    def pending(self) -> int:
        """Return the number of durable messages the hub or broker has not yet accepted."""
        return len(self._outbox)


class ServiceLink(abc.ABC):
    """The cloud service's side of every device's link."""

    @abc.abstractmethod
    def start(self) -> None:
        """Connect and subscribe to every device's messages and presence."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Disconnect."""

    @abc.abstractmethod
    def send(self, device_id: str, message: Message) -> None:
        """Send ``message`` to one device with QoS 1 (kept by the broker while it is offline)."""

    @abc.abstractmethod
    def on_message(self, callback: ServiceMessageCallback) -> None:
        """Register ``callback(device_id, message)`` for every device message."""

    @abc.abstractmethod
    def on_presence(self, callback: PresenceCallback) -> None:
        """Register ``callback(device_id, online)`` for connects, disconnects and wills."""
