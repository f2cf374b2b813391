"""MQTT channels: the mvMqtt* calls.

The cloud bridges each MQTT channel to the broker the app names
(`openvisor.cloud.devicelink.mqtt_bridge`). Requests carry the app's
correlation id; every result and received message becomes one item in the
channel's FIFO and posts CHANNELDATAREADABLE. `mvMqttGetNextReadableDataType`
peeks at the oldest item, the matching read call removes it, and a read of
the wrong kind returns WRONGDATAREQUESTED. Items stay readable after the
broker drops the connection, so the app can still read the disconnect
response; new requests then return CHANNELCLOSED.

Limits: one subscribe and one unsubscribe in flight, eight publishes in
flight (RATELIMITED beyond), at most eight topics per (un)subscribe and
eight certificates per chain. A received message that does not fit the
receive buffer (topic + payload + 64 bytes) becomes a MESSAGELOST item.
``reason_codes_size`` in the (un)subscribe response is a count of uint32_t
entries, as the public demo applications pass it.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cbor2

from openvisor.kernel.abi import (
    MvChannelType,
    MvEventType,
    MvMqttAuthenticationMethod,
    MvMqttLostMessageReason,
    MvMqttReadableDataType,
    MvStatus,
    StatusError,
)
from openvisor.kernel.gateway import syscall
from openvisor.kernel.net.channels import (
    RECEIVERS,
    Channel,
    lookup_channel,
    read_nested,
    read_nested_struct,
)
from openvisor.kernel.structs import (
    MQTT_CONNECT_REQUEST,
    MQTT_CONNECT_RESPONSE,
    MQTT_DISCONNECT_RESPONSE,
    MQTT_LOST_MESSAGE_INFO,
    MQTT_MESSAGE,
    MQTT_PUBLISH_REQUEST,
    MQTT_PUBLISH_RESPONSE,
    MQTT_SUBSCRIBE_REQUEST,
    MQTT_SUBSCRIBE_RESPONSE,
    MQTT_SUBSCRIPTION,
    MQTT_UNSUBSCRIBE_REQUEST,
    MQTT_UNSUBSCRIBE_RESPONSE,
    MQTT_WILL,
    SIZED_STRING,
    TLS_CREDENTIALS,
)
from openvisor.link import messages as msg

if TYPE_CHECKING:
    from openvisor.kernel.kernel import Kernel

log = logging.getLogger(__name__)

MAX_TOPICS = 8
MAX_CERTS = 8
MAX_PUBLISHES_IN_FLIGHT = 8
FRAMING_OVERHEAD = 64

ReadType = MvMqttReadableDataType


@dataclass
class MqttSession:
    """The MQTT state of one channel."""

    connect_sent: bool = False
    items: deque[tuple[ReadType, int, dict[str, Any]]] = field(default_factory=deque)
    subscribe_in_flight: bool = False
    unsubscribe_in_flight: bool = False
    publishes_in_flight: set[int] = field(default_factory=set)
    unacknowledged: set[int] = field(default_factory=set)


def _session(channel: Channel) -> MqttSession:
    if channel.family is None:
        channel.family = MqttSession()
    session: MqttSession = channel.family
    return session


def _open_session(kernel: Kernel, handle: int) -> tuple[Channel, MqttSession]:
    channel = lookup_channel(kernel, handle, MvChannelType.MQTT)
    channel.check_open()
    return channel, _session(channel)


def _send(channel: Channel, op: str, correlation_id: int, args: dict[str, Any]) -> None:
    # The request's size is its encoded arguments plus framing.
    size = FRAMING_OVERHEAD + len(cbor2.dumps(args))
    if size > channel.send_size:
        raise StatusError(MvStatus.INVALIDBUFFERSIZE, f"request {size} bytes > {channel.send_size}")
    channel.send(
        msg.MqttRequest(channel=channel.handle, op=op, correlation_id=correlation_id, args=args)
    )


# ---------------------------------------------------------------- requests


def _read_chain(kernel: Kernel, count: int, address: int) -> list[bytes]:
    if count > MAX_CERTS:
        raise StatusError(MvStatus.TOOMANYELEMENTS, f"{count} certificates > {MAX_CERTS}")
    certs = []
    for index in range(count):
        entry = read_nested_struct(kernel, address + index * SIZED_STRING.size, SIZED_STRING)
        certs.append(read_nested(kernel, entry["data"], entry["length"]))
    return certs


@syscall("mvMqttRequestConnect")
def request_connect(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Ask the cloud to connect MQTT channel ``r0`` with the settings in ``*r1``."""
    kernel.memory.check_read_struct(r1, MQTT_CONNECT_REQUEST)
    channel, session = _open_session(kernel, r0)
    if session.connect_sent:
        raise StatusError(MvStatus.REQUESTALREADYSENT)
    request = kernel.memory.read_struct(r1, MQTT_CONNECT_REQUEST)

    host = read_nested(kernel, request["host.data"], request["host.length"])
    client_id = read_nested(kernel, request["clientid.data"], request["clientid.length"])
    args: dict[str, Any] = {
        "protocol_version": request["protocol_version"],
        "host": host.decode("utf-8", errors="replace"),
        "port": request["port"],
        "client_id": client_id.decode("utf-8", errors="replace"),
        "keepalive": request["keepalive"],
        "clean_start": bool(request["clean_start"]),
    }
    use_password = request["authentication.method"] == MvMqttAuthenticationMethod.USERNAMEPASSWORD
    if use_password:
        prefix = "authentication.username_password."
        args["username"] = read_nested(
            kernel, request[prefix + "username.data"], request[prefix + "username.length"]
        ).decode("utf-8", errors="replace")
        args["password"] = read_nested(
            kernel, request[prefix + "password.data"], request[prefix + "password.length"]
        )
    if request["tls_credentials"]:
        tls = read_nested_struct(kernel, request["tls_credentials"], TLS_CREDENTIALS)
        args["ca_certs"] = _read_chain(kernel, tls["cacert.num_certs"], tls["cacert.certs"])
        args["client_certs"] = _read_chain(
            kernel, tls["clientcert.chain.num_certs"], tls["clientcert.chain.certs"]
        )
        args["client_key"] = read_nested(
            kernel, tls["clientcert.key.data"], tls["clientcert.key.length"]
        )
        if args["client_certs"] and use_password:
            raise StatusError(
                MvStatus.INVALIDAUTHENTICATION, "username/password and a client certificate"
            )
        if args["client_certs"] and not args["client_key"]:
            raise StatusError(MvStatus.REQUIREDELEMENTMISSING, "client certificate without key")
    if request["will"]:
        will = read_nested_struct(kernel, request["will"], MQTT_WILL)
        topic = read_nested(kernel, will["topic.data"], will["topic.length"])
        payload = read_nested(kernel, will["payload.data"], will["payload.length"])
        if not topic or not payload:
            raise StatusError(MvStatus.REQUIREDELEMENTMISSING, "will topic or payload")
        args["will"] = {
            "topic": topic.decode("utf-8", errors="replace"),
            "payload": payload,
            "qos": will["qos"],
            "retain": bool(will["retain"]),
        }
    if not host or not client_id:
        raise StatusError(MvStatus.REQUIREDELEMENTMISSING, "host or client id")

    _send(channel, "connect", 0, args)
    session.connect_sent = True
    log.debug(
        "Request MQTT connect (device=%s, channel=%#010x, host=%s, port=%d)",
        kernel.device_id,
        channel.handle,
        args["host"],
        args["port"],
    )
    return MvStatus.OKAY


@syscall("mvMqttRequestSubscribe")
def request_subscribe(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Subscribe MQTT channel ``r0`` to the topics of ``*r1`` (MvMqttSubscribeRequest)."""
    kernel.memory.check_read_struct(r1, MQTT_SUBSCRIBE_REQUEST)
    channel, session = _open_session(kernel, r0)
    request = kernel.memory.read_struct(r1, MQTT_SUBSCRIBE_REQUEST)
    count = request["num_subscriptions"]
    if count == 0:
        raise StatusError(MvStatus.REQUIREDELEMENTMISSING, "no subscriptions")
    if count > MAX_TOPICS:
        raise StatusError(MvStatus.TOOMANYELEMENTS, f"{count} topics > {MAX_TOPICS}")
    if session.subscribe_in_flight:
        raise StatusError(MvStatus.RATELIMITED, "a subscribe is in flight")
    topics: list[list[Any]] = []
    for index in range(count):
        entry = read_nested_struct(
            kernel, request["subscriptions"] + index * MQTT_SUBSCRIPTION.size, MQTT_SUBSCRIPTION
        )
        topic = read_nested(kernel, entry["topic.data"], entry["topic.length"])
        topics.append([topic.decode("utf-8", errors="replace"), entry["desired_qos"]])
    _send(channel, "subscribe", request["correlation_id"], {"topics": topics})
    session.subscribe_in_flight = True
    return MvStatus.OKAY


@syscall("mvMqttRequestUnsubscribe")
def request_unsubscribe(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Unsubscribe MQTT channel ``r0`` from the topics of ``*r1`` (MvMqttUnsubscribeRequest)."""
    kernel.memory.check_read_struct(r1, MQTT_UNSUBSCRIBE_REQUEST)
    channel, session = _open_session(kernel, r0)
    request = kernel.memory.read_struct(r1, MQTT_UNSUBSCRIBE_REQUEST)
    count = request["num_topics"]
    if count == 0:
        raise StatusError(MvStatus.REQUIREDELEMENTMISSING, "no topics")
    if count > MAX_TOPICS:
        raise StatusError(MvStatus.TOOMANYELEMENTS, f"{count} topics > {MAX_TOPICS}")
    if session.unsubscribe_in_flight:
        raise StatusError(MvStatus.RATELIMITED, "an unsubscribe is in flight")
    topics = []
    for index in range(count):
        entry = read_nested_struct(
            kernel, request["topics"] + index * SIZED_STRING.size, SIZED_STRING
        )
        topics.append(
            read_nested(kernel, entry["data"], entry["length"]).decode("utf-8", "replace")
        )
    _send(channel, "unsubscribe", request["correlation_id"], {"topics": topics})
    session.unsubscribe_in_flight = True
    return MvStatus.OKAY


@syscall("mvMqttRequestPublish")
def request_publish(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Publish ``*r1`` (MvMqttPublishRequest) on MQTT channel ``r0``."""
    kernel.memory.check_read_struct(r1, MQTT_PUBLISH_REQUEST)
    channel, session = _open_session(kernel, r0)
    request = kernel.memory.read_struct(r1, MQTT_PUBLISH_REQUEST)
    if len(session.publishes_in_flight) >= MAX_PUBLISHES_IN_FLIGHT:
        raise StatusError(MvStatus.RATELIMITED, f"{MAX_PUBLISHES_IN_FLIGHT} publishes in flight")
    topic = read_nested(kernel, request["topic.data"], request["topic.length"])
    payload = read_nested(kernel, request["payload.data"], request["payload.length"])
    if not topic:
        raise StatusError(MvStatus.REQUIREDELEMENTMISSING, "topic")
    correlation_id = request["correlation_id"]
    _send(
        channel,
        "publish",
        correlation_id,
        {
            "topic": topic.decode("utf-8", errors="replace"),
            "payload": payload,
            "qos": request["desired_qos"],
            "retain": bool(request["retain"]),
        },
    )
    session.publishes_in_flight.add(correlation_id)
    return MvStatus.OKAY


@syscall("mvMqttAcknowledgeMessage")
def acknowledge_message(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Acknowledge received message ``r1`` on MQTT channel ``r0`` (a QoS 0 message: no-op)."""
    channel, session = _open_session(kernel, r0)
    if r1 in session.unacknowledged:
        session.unacknowledged.discard(r1)
        channel.send(msg.MqttRequest(channel=channel.handle, op="ack", correlation_id=r1))
    return MvStatus.OKAY


@syscall("mvMqttRequestDisconnect")
def request_disconnect(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Ask the cloud to disconnect MQTT channel ``r0`` from its broker."""
    channel, _ = _open_session(kernel, r0)
    channel.send(msg.MqttRequest(channel=channel.handle, op="disconnect"))
    return MvStatus.OKAY


# ---------------------------------------------------------------- events from the cloud

_EVENT_TYPES = {
    "connect": ReadType.CONNECTRESPONSE,
    "subscribe": ReadType.SUBSCRIBERESPONSE,
    "unsubscribe": ReadType.UNSUBSCRIBERESPONSE,
    "publish": ReadType.PUBLISHRESPONSE,
    "disconnect": ReadType.DISCONNECTRESPONSE,
    "message": ReadType.MESSAGERECEIVED,
}


def _receive(channel: Channel, message: msg.Message) -> None:
    if not isinstance(message, msg.MqttEvent):
        return
    read_type = _EVENT_TYPES.get(message.event)
    if read_type is None:
        log.warning(
            "Drop unknown MQTT event (device=%s, event=%s)", channel.kernel.device_id, message.event
        )
        return
    session = _session(channel)
    args = dict(message.args)
    if read_type == ReadType.SUBSCRIBERESPONSE:
        session.subscribe_in_flight = False
    elif read_type == ReadType.UNSUBSCRIBERESPONSE:
        session.unsubscribe_in_flight = False
    elif read_type == ReadType.PUBLISHRESPONSE:
        session.publishes_in_flight.discard(message.correlation_id)
    elif read_type == ReadType.MESSAGERECEIVED:
        topic, payload = bytes(args.get("topic", b"")), bytes(args.get("payload", b""))
        if len(topic) + len(payload) + FRAMING_OVERHEAD > channel.receive_size:
            read_type = ReadType.MESSAGELOST
            args = {"topic": topic, "message_len": len(payload)}
            if int(message.args.get("qos", 0)) > 0:
                # Acknowledge at once, or the broker would redeliver a message
                # that can never fit.
                channel.send(
                    msg.MqttRequest(
                        channel=channel.handle, op="ack", correlation_id=message.correlation_id
                    )
                )
        elif int(args.get("qos", 0)) > 0:
            session.unacknowledged.add(message.correlation_id)
    session.items.append((read_type, message.correlation_id, args))
    channel.notify(MvEventType.CHANNELDATAREADABLE)


RECEIVERS[MvChannelType.MQTT] = _receive


# ---------------------------------------------------------------- reads


def _head(
    kernel: Kernel, handle: int, expected: ReadType
) -> tuple[MqttSession, int, dict[str, Any]]:
    # Reads stay allowed after a remote close, so queued responses can be drained.
    channel = lookup_channel(kernel, handle, MvChannelType.MQTT)
    session = _session(channel)
    if not session.items:
        raise StatusError(MvStatus.RESPONSENOTPRESENT)
    read_type, correlation_id, args = session.items[0]
    if read_type != expected:
        raise StatusError(MvStatus.WRONGDATAREQUESTED, f"next item is {read_type.name}")
    return session, correlation_id, args


@syscall("mvMqttGetNextReadableDataType")
def get_next_readable_data_type(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Write the kind of the oldest readable item of channel ``r0`` to ``*r1``."""
    kernel.memory.check_write(r1, 4, align=4)
    channel = lookup_channel(kernel, r0, MvChannelType.MQTT)
    session = _session(channel)
    kernel.memory.write_u32(r1, session.items[0][0] if session.items else ReadType.NONE)
    return MvStatus.OKAY


@syscall("mvMqttReadConnectResponse")
def read_connect_response(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Write the connect result of channel ``r0`` to ``*r1`` (MvMqttConnectResponse)."""
    kernel.memory.check_write_struct(r1, MQTT_CONNECT_RESPONSE)
    session, _, args = _head(kernel, r0, ReadType.CONNECTRESPONSE)
    kernel.memory.write_struct(
        r1,
        MQTT_CONNECT_RESPONSE,
        {
            "request_state": int(args.get("request_state", 0)),
            "reason_code": int(args.get("reason_code", 0)),
        },
    )
    session.items.popleft()
    return MvStatus.OKAY


@syscall("mvMqttReadPublishResponse")
def read_publish_response(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Write the oldest publish result of channel ``r0`` to ``*r1`` (MvMqttPublishResponse)."""
    kernel.memory.check_write_struct(r1, MQTT_PUBLISH_RESPONSE)
    session, correlation_id, args = _head(kernel, r0, ReadType.PUBLISHRESPONSE)
    kernel.memory.write_struct(
        r1,
        MQTT_PUBLISH_RESPONSE,
        {
            "request_state": int(args.get("request_state", 0)),
            "correlation_id": correlation_id,
            "reason_code": int(args.get("reason_code", 0)),
        },
    )
    session.items.popleft()
    return MvStatus.OKAY


@syscall("mvMqttReadDisconnectResponse")
def read_disconnect_response(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Write the disconnect result of channel ``r0`` to ``*r1`` (MvMqttDisconnectResponse)."""
    kernel.memory.check_write_struct(r1, MQTT_DISCONNECT_RESPONSE)
    session, _, args = _head(kernel, r0, ReadType.DISCONNECTRESPONSE)
    kernel.memory.write_struct(
        r1,
        MQTT_DISCONNECT_RESPONSE,
        {
            "request_state": int(args.get("request_state", 0)),
            "disconnect_code": int(args.get("disconnect_code", 0)),
        },
    )
    session.items.popleft()
    return MvStatus.OKAY


def _read_codes(kernel: Kernel, r0: int, r1: int, layout: Any, expected: ReadType) -> int:
    memory = kernel.memory
    memory.check_read_struct(r1, layout)
    out = memory.read_struct(r1, layout)
    capacity = out["reason_codes_size"]
    memory.check_write(out["request_state"], 4, align=4)
    memory.check_write(out["correlation_id"], 4, align=4)
    memory.check_write(out["reason_codes"], capacity * 4, align=4)
    memory.check_write(out["reason_codes_len"], 4, align=4)
    session, correlation_id, args = _head(kernel, r0, expected)
    codes = [int(code) for code in args.get("reason_codes", [])]
    if len(codes) > capacity:
        memory.write_u32(out["reason_codes_len"], len(codes))
        raise StatusError(MvStatus.INVALIDBUFFERSIZE, f"{len(codes)} reason codes > {capacity}")
    memory.write_u32(out["request_state"], int(args.get("request_state", 0)))
    memory.write_u32(out["correlation_id"], correlation_id)
    for index, code in enumerate(codes):
        memory.write_u32(out["reason_codes"] + 4 * index, code)
    memory.write_u32(out["reason_codes_len"], len(codes))
    session.items.popleft()
    return MvStatus.OKAY


@syscall("mvMqttReadSubscribeResponse")
def read_subscribe_response(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Fill the outputs named by ``*r1`` (MvMqttSubscribeResponse) for channel ``r0``."""
    return _read_codes(kernel, r0, r1, MQTT_SUBSCRIBE_RESPONSE, ReadType.SUBSCRIBERESPONSE)


@syscall("mvMqttReadUnsubscribeResponse")
def read_unsubscribe_response(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Fill the outputs named by ``*r1`` (MvMqttUnsubscribeResponse) for channel ``r0``."""
    return _read_codes(kernel, r0, r1, MQTT_UNSUBSCRIBE_RESPONSE, ReadType.UNSUBSCRIBERESPONSE)


@syscall("mvMqttReceiveMessage")
def receive_message(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Copy the oldest received message of channel ``r0`` to the outputs ``*r1`` names."""
    memory = kernel.memory
    memory.check_read_struct(r1, MQTT_MESSAGE)
    out = memory.read_struct(r1, MQTT_MESSAGE)
    memory.check_write(out["correlation_id"], 4, align=4)
    memory.check_write(out["topic.data"], out["topic.size"])
    memory.check_write(out["topic.length"], 4, align=4)
    memory.check_write(out["payload.data"], out["payload.size"])
    memory.check_write(out["payload.length"], 4, align=4)
    memory.check_write(out["qos"], 4, align=4)
    memory.check_write(out["retain"], 1)
    session, correlation_id, args = _head(kernel, r0, ReadType.MESSAGERECEIVED)
    topic, payload = bytes(args.get("topic", b"")), bytes(args.get("payload", b""))
    if len(topic) > out["topic.size"] or len(payload) > out["payload.size"]:
        raise StatusError(
            MvStatus.INVALIDBUFFERSIZE,
            f"topic {len(topic)}/{out['topic.size']}, payload {len(payload)}/{out['payload.size']}",
        )
    memory.write_u32(out["correlation_id"], correlation_id)
    memory.write(out["topic.data"], topic)
    memory.write_u32(out["topic.length"], len(topic))
    memory.write(out["payload.data"], payload)
    memory.write_u32(out["payload.length"], len(payload))
    memory.write_u32(out["qos"], int(args.get("qos", 0)))
    memory.write_u8(out["retain"], 1 if args.get("retain") else 0)
    session.items.popleft()
    return MvStatus.OKAY


@syscall("mvMqttReceiveLostMessageInfo")
def receive_lost_message_info(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Describe the oldest lost message of channel ``r0`` in the outputs ``*r1`` names."""
    memory = kernel.memory
    memory.check_read_struct(r1, MQTT_LOST_MESSAGE_INFO)
    out = memory.read_struct(r1, MQTT_LOST_MESSAGE_INFO)
    memory.check_write(out["reason"], 4, align=4)
    memory.check_write(out["topic.data"], out["topic.size"])
    memory.check_write(out["topic.length"], 4, align=4)
    memory.check_write(out["message_len"], 4, align=4)
    session, _, args = _head(kernel, r0, ReadType.MESSAGELOST)
    topic = bytes(args.get("topic", b""))
    if len(topic) > out["topic.size"]:
        raise StatusError(MvStatus.INVALIDBUFFERSIZE, f"topic {len(topic)}/{out['topic.size']}")
    memory.write_u32(out["reason"], MvMqttLostMessageReason.DEVICERECEIVEBUFFERTOOSMALL)
    memory.write(out["topic.data"], topic)
    memory.write_u32(out["topic.length"], len(topic))
    memory.write_u32(out["message_len"], int(args.get("message_len", 0)))
    session.items.popleft()
    return MvStatus.OKAY
