"""MQTT channels bridged to the broker an app names.

Each device MQTT channel gets one paho client in the service, served by
its own thread. The device's ``MqttRequest`` messages drive it and its
results travel back as ``MqttEvent`` messages, numbered with the
`MvMqttRequestState` values. Received messages are acknowledged to the
app's broker only when the app calls `mvMqttAcknowledgeMessage`
(paho manual acknowledgement), so a QoS 1 message the app never
acknowledges is redelivered by that broker.

The bridge never reconnects on its own: when the app's broker drops the
connection, the app gets a disconnect response and the channel closes with
CONNECTIONTERMINATED, as on the original platform. Hosts must pass the
outbound allow-list (loopback only by default).
"""

from __future__ import annotations

import fnmatch
import itertools
import logging
import os
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from openvisor.link.messages import ChannelClose, Message, MqttEvent, MqttRequest

log = logging.getLogger(__name__)

Send = Callable[[str, Message], None]

# MvClosureReason.CONNECTIONTERMINATED
CLOSURE_CONNECTION_TERMINATED = 4


class RequestState(IntEnum):
    """Outcome of an MQTT request, numbered as ``MvMqttRequestState``."""

    REQUESTCOMPLETED = 0
    INVALIDPARAMETERS = 1
    ALREADYCONNECTED = 2
    NOTCONNECTED = 3
    NXDOMAIN = 4
    UNKNOWNCA = 5
    CERTIFICATEEXPIRED = 6
    SOCKETERROR = 7
    CONNECTIONCIRCUITBREAKER = 8


@dataclass(frozen=True)
class MqttBridgePolicy:
    """The outbound allow-list of app brokers and the connect timeout."""

    allow_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")
    connect_timeout_s: float = 10.0

    def allows(self, host: str) -> bool:
        """Return whether ``host`` matches an allow-list pattern (``*`` wildcards)."""
        host = host.lower()
        return any(fnmatch.fnmatchcase(host, pattern.lower()) for pattern in self.allow_hosts)


class _Session:
    """One bridged channel: a paho client and its thread."""

    def __init__(self, bridge: MqttBridge, device_id: str, channel: int) -> None:
        self.bridge = bridge
        self.device_id = device_id
        self.channel = channel
        self.client: paho.Client | None = None
        self.connected = False
        self.closing = False
        self.lock = threading.Lock()
        self.pending: dict[int, tuple[str, int]] = {}  # paho mid -> (op, correlation id)
        self.received: dict[int, tuple[int, int]] = {}  # correlation id -> (paho mid, qos)
        self.thread: threading.Thread | None = None
        self._temp_files: list[str] = []

    def event(self, event: str, correlation_id: int = 0, **args: Any) -> None:
        self.bridge.send(
            self.device_id,
            MqttEvent(channel=self.channel, event=event, correlation_id=correlation_id, args=args),
        )

    # ------------------------------------------------------------ connect

    def connect(self, args: dict[str, Any]) -> None:
        host = str(args.get("host", ""))
        port = int(args.get("port", 0)) or 1883
        if not self.bridge.policy.allows(host):
            log.warning(
                "Block MQTT bridge to host off the allow-list (device=%s, host=%s)",
                self.device_id,
                host,
            )
            self.event("connect", request_state=RequestState.SOCKETERROR, reason_code=0)
            return
        version = paho.MQTTv5 if int(args.get("protocol_version", 0)) == 1 else paho.MQTTv311
        client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=str(args.get("client_id", "")),
            clean_session=bool(args.get("clean_start", True)) if version == paho.MQTTv311 else None,
            protocol=version,
        )
        client.manual_ack_set(True)
        if "username" in args:
            client.username_pw_set(
                str(args["username"]),
                bytes(args.get("password", b"")).decode("utf-8", errors="replace"),
            )
        will = args.get("will")
        if isinstance(will, dict):
            client.will_set(
                str(will["topic"]),
                bytes(will["payload"]),
                int(will.get("qos", 0)),
                bool(will.get("retain", False)),
            )
        try:
            context = self._tls_context(args)
        except (ssl.SSLError, ValueError) as exc:
            log.info("Reject MQTT TLS credentials (device=%s, error=%s)", self.device_id, exc)
            self.event("connect", request_state=RequestState.INVALIDPARAMETERS, reason_code=0)
            return
        if context is not None:
            client.tls_set_context(context)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_unsubscribe = self._on_unsubscribe
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.connect_timeout = self.bridge.policy.connect_timeout_s

        state = RequestState.REQUESTCOMPLETED
        try:
            client.connect(host, port, keepalive=max(5, int(args.get("keepalive", 60)) or 60))
        except socket.gaierror:
            state = RequestState.NXDOMAIN
        except ssl.SSLCertVerificationError as exc:
            expired = "expired" in str(exc.verify_message or exc).lower()
            state = RequestState.CERTIFICATEEXPIRED if expired else RequestState.UNKNOWNCA
        except (OSError, ssl.SSLError):
            state = RequestState.SOCKETERROR
        finally:
            self._remove_temp_files()
        if state is not RequestState.REQUESTCOMPLETED:
            log.info(
                "Bridge MQTT connect failed (device=%s, host=%s, port=%d, state=%s)",
                self.device_id,
                host,
                port,
                state.name,
            )
            self.event("connect", request_state=state, reason_code=0)
            return
        self.client = client
        self.thread = threading.Thread(
            target=self._serve, name=f"mqtt-bridge-{self.channel:x}", daemon=True
        )
        self.thread.start()

    def _tls_context(self, args: dict[str, Any]) -> ssl.SSLContext | None:
        ca_certs = [bytes(cert) for cert in args.get("ca_certs", [])]
        client_certs = [bytes(cert) for cert in args.get("client_certs", [])]
        if not ca_certs and not client_certs:
            return None
        context = ssl.create_default_context()
        if ca_certs:
            context = ssl.create_default_context(cadata=_as_pem(ca_certs))
        if client_certs:
            # ssl only loads a client certificate and key from files.
            cert_file = self._temp_file(_as_pem(client_certs).encode())
            key_file = self._temp_file(bytes(args.get("client_key", b"")))
            context.load_cert_chain(cert_file, key_file)
        return context

    def _temp_file(self, data: bytes) -> str:
        fd, name = tempfile.mkstemp(prefix="ov-mqtt-", suffix=".pem")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        self._temp_files.append(name)
        return name

    def _remove_temp_files(self) -> None:
        for name in self._temp_files:
            try:
                os.unlink(name)
            except FileNotFoundError:
                pass
        self._temp_files.clear()

    def _serve(self) -> None:
        client = self.client
        assert client is not None
        while True:
            rc = client.loop(timeout=0.2)
            if rc != paho.MQTT_ERR_SUCCESS:
                break
            if self.closing and client.socket() is None:
                break
        if not self.closing:
            log.info(
                "Bridged MQTT connection lost (device=%s, channel=%#010x)",
                self.device_id,
                self.channel,
            )
            self.bridge.send(
                self.device_id,
                ChannelClose(channel=self.channel, reason=CLOSURE_CONNECTION_TERMINATED),
            )
        self.bridge.forget(self.device_id, self.channel)

    # ------------------------------------------------------------ requests

    def request(self, message: MqttRequest) -> None:
        op, correlation_id, args = message.op, message.correlation_id, message.args
        if op == "connect":
            if self.client is not None:
                self.event("connect", request_state=RequestState.ALREADYCONNECTED, reason_code=0)
            else:
                self.connect(args)
            return
        client = self.client
        if op == "ack":
            with self.lock:
                entry = self.received.pop(correlation_id, None)
            if client is not None and entry is not None:
                client.ack(*entry)
            return
        if client is None or not self.connected:
            if op in ("subscribe", "unsubscribe"):
                self.event(
                    op, correlation_id, request_state=RequestState.NOTCONNECTED, reason_codes=[]
                )
            elif op == "publish":
                self.event(
                    op, correlation_id, request_state=RequestState.NOTCONNECTED, reason_code=0
                )
            elif op == "disconnect":
                self.event(op, request_state=RequestState.NOTCONNECTED, disconnect_code=0)
            return
        if op == "subscribe":
            topics = [(str(topic), min(int(qos), 2)) for topic, qos in args.get("topics", [])]
            with self.lock:
                _, mid = client.subscribe(topics)
                if mid is not None:
                    self.pending[mid] = ("subscribe", correlation_id)
        elif op == "unsubscribe":
            with self.lock:
                _, mid = client.unsubscribe([str(topic) for topic in args.get("topics", [])])
                if mid is not None:
                    self.pending[mid] = ("unsubscribe", correlation_id)
        elif op == "publish":
            qos = int(args.get("qos", 0))
            if qos not in (0, 1, 2):
                self.event(
                    op, correlation_id, request_state=RequestState.INVALIDPARAMETERS, reason_code=0
                )
                return
            with self.lock:
                info = client.publish(
                    str(args.get("topic", "")),
                    bytes(args.get("payload", b"")),
                    qos=qos,
                    retain=bool(args.get("retain", False)),
                )
                if qos > 0:
                    self.pending[info.mid] = ("publish", correlation_id)
            if qos == 0:
                self.event(
                    op, correlation_id, request_state=RequestState.REQUESTCOMPLETED, reason_code=0
                )
        elif op == "disconnect":
            self.closing = True
            client.disconnect()
        else:
            log.warning("Drop unknown MQTT request (device=%s, op=%s)", self.device_id, op)

    def close(self) -> None:
        self.closing = True
        if self.client is not None:
            self.client.disconnect()

    # ------------------------------------------------------------ paho callbacks

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        # A refused connection still completes the request; the app reads the
        # broker's CONNACK code in reason_code, and the broker then closes the socket.
        self.connected = not reason.is_failure
        self.event("connect", request_state=RequestState.REQUESTCOMPLETED, reason_code=reason.value)

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        was_connected, self.connected = self.connected, False
        if was_connected:
            state = RequestState.REQUESTCOMPLETED if self.closing else RequestState.NOTCONNECTED
            self.event(
                "disconnect",
                request_state=state,
                disconnect_code=0 if self.closing else reason.value,
            )

    def _take(self, mid: int) -> tuple[str, int] | None:
        with self.lock:
            return self.pending.pop(mid, None)

    def _on_subscribe(
        self, client: paho.Client, userdata: Any, mid: int, codes: list[ReasonCode], props: Any
    ) -> None:
        entry = self._take(mid)
        if entry is not None:
            self.event(
                "subscribe",
                entry[1],
                request_state=RequestState.REQUESTCOMPLETED,
                reason_codes=[code.value for code in codes],
            )

    def _on_unsubscribe(
        self, client: paho.Client, userdata: Any, mid: int, codes: list[ReasonCode], props: Any
    ) -> None:
        entry = self._take(mid)
        if entry is not None:
            # MQTT 3.1.1 UNSUBACK carries no reason codes: report success per topic.
            values = [code.value for code in codes] if codes else [0]
            self.event(
                "unsubscribe",
                entry[1],
                request_state=RequestState.REQUESTCOMPLETED,
                reason_codes=values,
            )

    def _on_publish(
        self, client: paho.Client, userdata: Any, mid: int, reason: ReasonCode, props: Any
    ) -> None:
        entry = self._take(mid)
        if entry is not None:
            self.event(
                "publish",
                entry[1],
                request_state=RequestState.REQUESTCOMPLETED,
                reason_code=reason.value if reason.is_failure else 0,
            )

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        correlation_id = next(self.bridge.message_ids)
        if msg.qos > 0:
            with self.lock:
                self.received[correlation_id] = (msg.mid, msg.qos)
        self.event(
            "message",
            correlation_id,
            topic=msg.topic.encode(),
            payload=bytes(msg.payload),
            qos=msg.qos,
            retain=bool(msg.retain),
        )


def _as_pem(certs: list[bytes]) -> str:
    """Join certificates given as PEM text or DER bytes into one PEM string."""
    parts = []
    for cert in certs:
        if cert.lstrip().startswith(b"-----BEGIN"):
            parts.append(cert.decode("ascii").strip())
        else:
            parts.append(ssl.DER_cert_to_PEM_cert(cert).strip())
    return "\n".join(parts) + "\n"


class MqttBridge:
    """All bridged MQTT channels of one service instance.

    NOTE: a channel's paho client lives in the instance that received the
    connect request, so with several instances splitting device traffic
    (``share_group``) later requests of that channel may reach an instance
    that does not have it, and those requests get NOTCONNECTED.
    """

    def __init__(self, send: Send, policy: MqttBridgePolicy | None = None) -> None:
        self.send = send
        self.policy = policy or MqttBridgePolicy()
        self.message_ids = itertools.count(1)
        self._sessions: dict[tuple[str, int], _Session] = {}
        self._lock = threading.Lock()

    def handle(self, device_id: str, message: MqttRequest) -> None:
        """Apply one request of a device's MQTT channel."""
        key = (device_id, message.channel)
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                session = _Session(self, device_id, message.channel)
                self._sessions[key] = session
        session.request(message)

    def close_channel(self, device_id: str, channel: int) -> None:
        """Disconnect the bridged client of a channel the device closed."""
        with self._lock:
            session = self._sessions.pop((device_id, channel), None)
        if session is not None:
            session.close()

    def close_device(self, device_id: str) -> None:
        """Disconnect every bridged client of a device that went offline."""
        with self._lock:
            keys = [key for key in self._sessions if key[0] == device_id]
            sessions = [self._sessions.pop(key) for key in keys]
        for session in sessions:
            session.close()

    def forget(self, device_id: str, channel: int) -> None:
        """Drop a session whose connection ended."""
        with self._lock:
            session = self._sessions.get((device_id, channel))
            if session is not None and session.thread is threading.current_thread():
                del self._sessions[(device_id, channel)]

    def close(self) -> None:
        """Disconnect every bridged client."""
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for session in sessions:
            session.close()
