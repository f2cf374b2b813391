"""The device link over MQTT 3.1.1 (paho-mqtt), for devices and for the service.

Only MQTT 3.1.1 features are used (QoS 0/1, retained messages, wills,
persistent sessions), so any broker works. Each side runs one background
thread that connects, serves the socket, and on loss reconnects after a
jittered exponential back-off. Durable messages are held in the device's
outbox until the broker's PUBACK; paho resends unacknowledged QoS 1
messages after a reconnect, and the outbox resends them after a restart.
"""

from __future__ import annotations

import functools
import logging
import random
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from openvisor.errors import ConfigError, LinkError
from openvisor.link import messages, topics
from openvisor.link.base import (
    DeviceLink,
    PresenceCallback,
    ServiceLink,
    ServiceMessageCallback,
)
from openvisor.link.messages import Hello, Message
from openvisor.link.outbox import Outbox

log = logging.getLogger(__name__)
frames_log = logging.getLogger(__name__ + ".frames")

PasswordSource = str | Callable[[], str] | None


@dataclass(frozen=True)
class BrokerAddress:
    """A broker's address, TLS files and credentials.

    Built from a URL with `parse_broker_url`: ``mqtt://host:port`` or
    ``mqtts://host:port`` (TLS), with optional ``user:password@``.
    """

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None


def parse_broker_url(url: str, **overrides: Any) -> BrokerAddress:
    """Parse ``mqtt://`` or ``mqtts://`` URLs; keyword overrides replace parsed fields."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ConfigError(
            f"broker URL {url!r} is invalid: use mqtt://HOST:PORT or mqtts://HOST:PORT"
        )
    tls = parts.scheme == "mqtts"
    fields: dict[str, Any] = {
        "host": parts.hostname,
        "port": parts.port or (8883 if tls else 1883),
        "tls": tls,
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
    }
    fields.update(overrides)
    return BrokerAddress(**fields)


@dataclass(frozen=True)
class Backoff:
    """Reconnect delays: doubling from ``initial_s`` to ``max_s``, each randomised
    into its upper half so a fleet that lost the broker together does not
    return in lockstep."""

    initial_s: float = 0.5
    max_s: float = 30.0

    def delay(self, attempt: int) -> float:
        """Return the delay before reconnect attempt ``attempt`` (0-based)."""
        ceiling = min(self.max_s, self.initial_s * float(2 ** min(attempt, 30)))
        return ceiling / 2 + random.uniform(0.0, ceiling / 2)


def _disable_nagle(client: paho.Client, userdata: Any, sock: Any) -> None:
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError as exc:
        log.debug("Could not set TCP_NODELAY on the MQTT socket (error=%s)", exc)


class _Connection:
    """One paho client served by a thread that reconnects with back-off."""

    def __init__(
        self,
        *,
        name: str,
        address: BrokerAddress,
        client_id: str,
        clean_session: bool,
        password: PasswordSource,
        keepalive_s: int,
        backoff: Backoff,
    ) -> None:
        self._name = name
        self._address = address
        self._password = password
        self._keepalive_s = keepalive_s
        self._backoff = backoff
        self._stop = threading.Event()
        self._stop_deadline = 0.0
        self._thread: threading.Thread | None = None
        self._connected = threading.Event()
        self.client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            protocol=paho.MQTTv311,
        )
        self.client.enable_logger(frames_log)
        # Small frames (debug packets, acks) must not wait for Nagle's algorithm:
        # with it a round trip through the broker takes tens of milliseconds.
        self.client.on_socket_open = _disable_nagle
        if address.tls:
            context = ssl.create_default_context(
                cafile=str(address.ca_file) if address.ca_file else None
            )
            if address.cert_file is not None:
                context.load_cert_chain(
                    str(address.cert_file), str(address.key_file) if address.key_file else None
                )
            self.client.tls_set_context(context)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"mqtt-{self._name}", daemon=True)
        self._thread.start()

    def stop(self, before_disconnect: Callable[[], None] | None = None) -> None:
        if self._thread is None:
            return
        if before_disconnect is not None and self._connected.is_set():
            before_disconnect()
        self._stop_deadline = time.monotonic() + 2.0
        self._stop.set()
        self.client.disconnect()
        self._thread.join(timeout=10)
        self._thread = None

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def _credentials(self) -> None:
        password = self._password() if callable(self._password) else self._password
        if self._address.username is not None or password is not None:
            self.client.username_pw_set(self._address.username, password)

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                self._credentials()
                self.client.connect(self._address.host, self._address.port, self._keepalive_s)
            except (OSError, ssl.SSLError) as exc:
                delay = self._backoff.delay(attempt)
                attempt += 1
                log.warning(
                    "Connect to broker failed, retrying (client=%s, broker=%s:%d, error=%s, "
                    "delay_s=%.2f)",
                    self._name,
                    self._address.host,
                    self._address.port,
                    exc,
                    delay,
                )
                self._stop.wait(delay)
                continue

            # After stop() the loop keeps serving the socket until paho has
            # written the DISCONNECT and closed it, or for 2 s at most.
            while True:
                rc = self.client.loop(timeout=0.2)
                if self._connected.is_set():
                    attempt = 0
                if rc != paho.MQTT_ERR_SUCCESS:
                    break
                if self._stop.is_set() and (
                    self.client.socket() is None or time.monotonic() > self._stop_deadline
                ):
                    break
            if self._stop.is_set():
                break
            delay = self._backoff.delay(attempt)
            attempt += 1
            log.warning(
                "Lose broker connection, reconnecting (client=%s, delay_s=%.2f)", self._name, delay
            )
            self._stop.wait(delay)


def _acknowledged(info: paho.MQTTMessageInfo) -> bool:
    """Return whether the broker acknowledged a QoS 1 publish."""
    # paho-mqtt 2.2: is_published() raises for a message first queued while
    # offline, because its rc stays MQTT_ERR_NO_CONN after paho sends it on
    # reconnect. The flag paho sets on PUBACK is the reliable signal.
    with info._condition:
        return bool(info._published)


class MqttDeviceLink(DeviceLink):
    """A device's link over MQTT.

    The client id and username are the device id; the password comes from
    ``password`` (a string or a callable such as
    `DeviceIdentity.mqtt_password`, called on every connect). The session is
    persistent (clean session off), so the broker keeps cloud messages sent
    while the device was away. Example::

        identity = DeviceIdentity.load_or_create(state_dir)
        link = MqttDeviceLink(identity.device_id, parse_broker_url("mqtt://127.0.0.1:1883"),
                              password=identity.mqtt_password, state_dir=state_dir)
        link.start()
    """

    def __init__(
        self,
        device_id: str,
        address: BrokerAddress,
        *,
        password: PasswordSource = None,
        state_dir: Path | None = None,
        prefix: str = topics.DEFAULT_PREFIX,
        hello: Hello | None = None,
        keepalive_s: int = 30,
        backoff: Backoff | None = None,
    ) -> None:
        self.device_id = topics.check_device_id(device_id)
        self._prefix = prefix
        # Every connection starts with a Hello, and the cloud replies with a
        # Welcome: wall time, logging state and its bundle-signing keys.
        self._hello = hello or Hello()
        folder = state_dir / "link" / "outbox" if state_dir is not None else None
        super().__init__(Outbox(folder))
        self._lock = threading.Lock()
        # Outbox entries handed to paho, with paho's delivery handle.
        self._in_flight: list[tuple[int, paho.MQTTMessageInfo]] = []
        if address.username is None:
            address = BrokerAddress(**{**address.__dict__, "username": device_id})
        self._conn = _Connection(
            name=device_id,
            address=address,
            client_id=device_id,
            clean_session=False,
            password=password,
            keepalive_s=keepalive_s,
            backoff=backoff or Backoff(),
        )
        client = self._conn.client
        client.will_set(
            topics.presence_topic(prefix, device_id),
            topics.encode_presence(False, 0),
            qos=1,
            retain=True,
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        for seq, message in self._outbox.items():
            self._hand_to_paho(seq, message)

    # ------------------------------------------------------------ DeviceLink

    def start(self) -> None:
        """Start the connection thread."""
        log.info("Start device link (device=%s)", self.device_id)
        self._conn.start()

    def stop(self) -> None:
        """Publish presence offline, then disconnect; unacknowledged messages stay queued."""
        self._conn.stop(before_disconnect=self._announce_offline)
        self._set_online(False)
        log.info("Stop device link (device=%s, pending=%d)", self.device_id, self.pending())

    @property
    def online(self) -> bool:
        """Whether the broker accepted the connection and it is still up."""
        return self._conn._connected.is_set()

    def send(self, message: Message) -> bool:
        """Publish ``message`` with QoS 1; durable messages are queued on disk first."""
        if message.KIND not in messages.UP_KINDS:
            raise LinkError(f"message kind {message.KIND!r} cannot be sent by a device")
        if message.DURABLE:
            seq = self._outbox.put(message)
            self._hand_to_paho(seq, message)
            return True
        if not self.online:
            return False
        self._publish(message)
        return True

    def wait_online(self, timeout: float) -> bool:
        """Block until connected or ``timeout`` seconds pass; return whether connected."""
        return self._conn.wait_connected(timeout)

    # ------------------------------------------------------------ internals

    def _publish(self, message: Message) -> paho.MQTTMessageInfo:
        topic = topics.up_topic(self._prefix, self.device_id, message.KIND)
        return self._conn.client.publish(topic, messages.encode(message), qos=1)

    def _hand_to_paho(self, seq: int, message: Message) -> None:
        # paho queues the message while offline and resends it after a
        # reconnect until the PUBACK; the lock is not held across publish()
        # because paho calls on_publish with its own lock held.
        info = self._publish(message)
        with self._lock:
            self._in_flight.append((seq, info))
            self._sweep_locked()

    def _sweep_locked(self, acked_mid: int | None = None) -> None:
        still: list[tuple[int, paho.MQTTMessageInfo]] = []
        for seq, info in self._in_flight:
            # paho calls on_publish before it marks the message published.
            if info.mid == acked_mid or _acknowledged(info):
                self._outbox.remove(seq)
            else:
                still.append((seq, info))
        self._in_flight = still

    def _announce_offline(self) -> None:
        info = self._conn.client.publish(
            topics.presence_topic(self._prefix, self.device_id),
            topics.encode_presence(False, time.time_ns() // 1000),
            qos=1,
            retain=True,
        )
        deadline = time.monotonic() + 2.0
        while not _acknowledged(info) and time.monotonic() < deadline:
            time.sleep(0.02)

    def _set_online(self, online: bool) -> None:
        was = self._conn._connected.is_set()
        if online:
            self._conn._connected.set()
        else:
            self._conn._connected.clear()
        if was != online:
            for callback in list(self._status_callbacks):
                try:
                    callback(online)
                except Exception:
                    log.exception("Status callback failed (device=%s)", self.device_id)

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        if reason.is_failure:
            log.warning("Broker rejected connection (device=%s, reason=%s)", self.device_id, reason)
            return
        client.subscribe(topics.device_subscription(self._prefix, self.device_id), qos=1)
        client.publish(
            topics.presence_topic(self._prefix, self.device_id),
            topics.encode_presence(True, time.time_ns() // 1000),
            qos=1,
            retain=True,
        )
        self._publish(self._hello)
        log.info("Connect device link (device=%s, pending=%d)", self.device_id, self.pending())
        self._set_online(True)

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        log.info("Disconnect device link (device=%s, reason=%s)", self.device_id, reason)
        self._set_online(False)

    def _on_publish(
        self, client: paho.Client, userdata: Any, mid: int, reason: ReasonCode, props: Any
    ) -> None:
        with self._lock:
            self._sweep_locked(mid)

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        try:
            message = messages.decode(bytes(msg.payload))
        except LinkError as exc:
            log.warning(
                "Drop invalid cloud message (device=%s, topic=%s, error=%s)",
                self.device_id,
                msg.topic,
                exc,
            )
            return
        for callback in list(self._message_callbacks):
            try:
                callback(message)
            except Exception:
                log.exception(
                    "Message callback failed (device=%s, kind=%s)", self.device_id, message.KIND
                )


class MqttServiceLink(ServiceLink):
    """The service's link over MQTT: one client for every device.

    With ``share_group`` the subscriptions use ``$share/<group>/...`` so that
    several service instances split the device traffic (a shared
    subscription: standard in MQTT 5, and accepted from 3.1.1 clients by
    Mosquitto 2 and EMQX). The session is persistent under ``client_id``,
    so messages sent while the service was down are delivered when it
    returns. A QoS 1 message is acknowledged only after every callback
    returned without an exception, so one that failed is delivered again
    when the session resumes.
    """

    def __init__(
        self,
        address: BrokerAddress,
        *,
        client_id: str | None = None,
        password: PasswordSource = None,
        prefix: str = topics.DEFAULT_PREFIX,
        share_group: str | None = None,
        keepalive_s: int = 30,
        backoff: Backoff | None = None,
    ) -> None:
        self._prefix = prefix
        self._share_group = share_group
        self._message_callbacks: list[ServiceMessageCallback] = []
        self._presence_callbacks: list[PresenceCallback] = []
        client_id = client_id or f"openvisor-service-{uuid.uuid4().hex[:12]}"
        self._conn = _Connection(
            name=client_id,
            address=address,
            client_id=client_id,
            clean_session=False,
            password=password,
            keepalive_s=keepalive_s,
            backoff=backoff or Backoff(),
        )
        self._conn.client.on_connect = self._on_connect
        self._conn.client.on_disconnect = self._on_disconnect
        self._conn.client.on_message = self._on_message
        # Acknowledge a device message only after every callback has handled it.
        self._conn.client.manual_ack_set(True)
        self._subscribed = threading.Event()
        self._conn.client.on_subscribe = lambda *args: self._subscribed.set()

    def start(self) -> None:
        """Start the connection thread."""
        log.info(
            "Start service link (broker=%s:%d)", self._conn._address.host, self._conn._address.port
        )
        self._conn.start()

    def stop(self) -> None:
        """Disconnect."""
        self._conn.stop()
        log.info("Stop service link")

    def wait_ready(self, timeout: float) -> bool:
        """Block until connected and subscribed; return whether that happened in time."""
        return self._conn.wait_connected(timeout) and self._subscribed.wait(timeout)

    def send(self, device_id: str, message: Message) -> None:
        """Publish ``message`` to ``device_id`` with QoS 1; paho queues it while offline."""
        if message.KIND not in messages.DOWN_KINDS:
            raise LinkError(f"message kind {message.KIND!r} cannot be sent to a device")
        topic = topics.down_topic(self._prefix, device_id, message.KIND)
        self._conn.client.publish(topic, messages.encode(message), qos=1)

    def on_message(self, callback: ServiceMessageCallback) -> None:
        """Register ``callback(device_id, message)`` (runs on the MQTT thread)."""
        self._message_callbacks.append(callback)

    def on_presence(self, callback: PresenceCallback) -> None:
        """Register ``callback(device_id, online)`` (runs on the MQTT thread)."""
        self._presence_callbacks.append(callback)

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        if reason.is_failure:
            log.warning("Broker rejected service connection (reason=%s)", reason)
            return
        filters = topics.service_subscriptions(self._prefix)
        if self._share_group:
            filters = [f"$share/{self._share_group}/{item}" for item in filters]
        client.subscribe([(item, 1) for item in filters])
        self._conn._connected.set()
        log.info("Connect service link (filters=%s)", filters)

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        self._conn._connected.clear()
        self._subscribed.clear()
        log.info("Disconnect service link (reason=%s)", reason)

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        if self._dispatch(msg) and msg.qos > 0:
            client.ack(msg.mid, msg.qos)

    def _dispatch(self, msg: paho.MQTTMessage) -> bool:
        """Hand one message to the callbacks; return False if any of them failed."""
        try:
            parsed = topics.parse(self._prefix, msg.topic)
            topics.check_device_id(parsed.device_id)
            if parsed.direction == "presence":
                online = topics.decode_presence(bytes(msg.payload))
            elif parsed.direction == "up":
                message = messages.decode(bytes(msg.payload))
                if message.KIND != parsed.kind:
                    raise LinkError(
                        f"message kind {message.KIND!r} does not match its topic {msg.topic!r}"
                    )
            else:
                return True
        except LinkError as exc:
            log.warning("Drop invalid device message (topic=%s, error=%s)", msg.topic, exc)
            return True

        ok = True
        if parsed.direction == "presence":
            handlers: list[Callable[[], None]] = [
                functools.partial(callback, parsed.device_id, online)
                for callback in self._presence_callbacks
            ]
        else:
            handlers = [
                functools.partial(callback, parsed.device_id, message)
                for callback in self._message_callbacks
            ]
        for handler in handlers:
            try:
                handler()
            except Exception:
                # Left unacknowledged, the message comes back when the session
                # resumes, so a database outage loses nothing.
                log.exception(
                    "Device message callback failed, leaving it unacknowledged (topic=%s)",
                    msg.topic,
                )
                ok = False
        return ok
