"""Conformance cases of the channel families: channels, HTTP, config fetch and MQTT.

They run once the network is connected and the firmware has one open HTTP
channel (``g_http``), one config-fetch channel (``g_config``) and one MQTT
channel (``g_mqtt``). The ``new_*`` constructors of the firmware build valid
request structures in the canary arena.
"""

from __future__ import annotations

from collections.abc import Iterator

from conformance_cases import (
    _KIND_MACRO,
    IN_KINDS,
    OUT_KINDS,
    Case,
    Phase,
    _Base,
    _base,
    bad_buffer,
    bad_handle,
    bad_object,
)

_CHANNEL = "MvChannelHandle"


def _open_channel() -> Iterator[Case]:
    setup = [
        "struct MvOpenChannelParams *params = new_open_channel_params();",
        "MvChannelHandle *handle = ARENA(MvChannelHandle);",
    ]
    # mvOpenChannel allows 8 calls a second, so the firmware spaces these cases.

    base = _base("mvOpenChannel", Phase.CHANNELS, setup, ["params", "handle"], paced=True)
    yield from bad_object(base, "params", "struct MvOpenChannelParams", writes=False)
    yield from bad_object(base, "handle", _CHANNEL, writes=True)
    for member, length in (("receive_buffer", "1024"), ("send_buffer", "512")):
        for kind in OUT_KINDS:
            yield base.case(
                f"params->v1.{member}={kind}",
                [f"params->v1.{member} = BAD_BUFFER({_KIND_MACRO[kind]}, {length});"],
                "PARAMETERFAULT",
            )
    for kind in IN_KINDS:
        yield base.case(
            f"params->v1.endpoint.data={kind}",
            [
                f"params->v1.endpoint.data = BAD_BUFFER({_KIND_MACRO[kind]}, 4);",
                "params->v1.endpoint.length = 4;",
            ],
            "PARAMETERFAULT",
        )
    yield base.case("params->version=2", ["params->version = 2;"], "UNSUPPORTEDSTRUCTUREVERSION")
    yield from bad_handle(
        base, "params->v1.notification_handle", "MvNotificationHandle", "g_network"
    )
    yield from bad_handle(base, "params->v1.network_handle", "MvNetworkHandle", "g_notification")
    yield base.case(
        "params->v1.send_buffer=misaligned",
        ["params->v1.send_buffer = params->v1.send_buffer + 1;"],
        "INVALIDBUFFERALIGNMENT",
    )
    yield base.case(
        "params->v1.receive_buffer_len=100",
        ["params->v1.receive_buffer_len = 100;"],
        "INVALIDBUFFERSIZE",
    )
    yield base.case(
        "params->v1.send_buffer_len=0", ["params->v1.send_buffer_len = 0;"], "INVALIDBUFFERSIZE"
    )
    yield base.case(
        "params->v1.channel_type=9",
        ["params->v1.channel_type = (enum MvChannelType)9;"],
        "UNKNOWNCHANNELTYPE",
    )


def _generic_channel() -> Iterator[Case]:
    setup = [f"{_CHANNEL} *handle = ARENA({_CHANNEL});", "*handle = g_http;"]
    base = _base("mvCloseChannel", Phase.CHANNELS, setup, ["handle"])
    yield from bad_object(base, "handle", _CHANNEL, writes=True)
    yield from bad_handle(base, "*handle", _CHANNEL, "g_network")

    setup = [
        "MvChannelHandle handle = g_http;",
        "enum MvClosureReason *reason = ARENA(enum MvClosureReason);",
    ]
    base = _base("mvGetChannelClosureReason", Phase.CHANNELS, setup, ["handle", "reason"])
    yield from bad_object(base, "reason", "enum MvClosureReason", writes=True)
    yield from bad_handle(base, "handle", _CHANNEL, "g_network")

    # The opaque-byte calls need an OPAQUEBYTES channel, whose endpoints the
    # documentation does not name; only their handle checks run here.

    setup = [
        "MvChannelHandle handle = g_http;",
        "uint8_t **pointer = ARENA(uint8_t *);",
        "uint32_t *length = ARENA(uint32_t);",
    ]
    base = _base("mvReadChannel", Phase.CHANNELS, setup, ["handle", "pointer", "length"])
    yield from _unknown_handles(base)

    base = _base(
        "mvReadChannelComplete",
        Phase.CHANNELS,
        ["MvChannelHandle handle = g_http;"],
        ["handle", "0"],
    )
    yield from _unknown_handles(base)
    for call in ("mvWriteChannelStream", "mvWriteChannel"):
        setup = [
            "MvChannelHandle handle = g_http;",
            'const uint8_t *data = (const uint8_t *)"ping";',
            "uint32_t *count = ARENA(uint32_t);",
        ]
        base = _base(call, Phase.CHANNELS, setup, ["handle", "data", "4", "count"])
        yield from _unknown_handles(base)


def _unknown_handles(base: _Base) -> Iterator[Case]:
    """Zero and never-issued handles only, since no valid channel of this kind is open."""
    for case in bad_handle(base, "handle", _CHANNEL, "g_network"):
        if not case.label.endswith("wrongtype"):
            yield case


def _http() -> Iterator[Case]:
    setup = [
        "MvChannelHandle handle = g_http;",
        "struct MvHttpRequest *request = new_http_request();",
    ]
    base = _base("mvSendHttpRequest", Phase.CHANNELS, setup, ["handle", "request"])
    yield from bad_object(base, "request", "struct MvHttpRequest", writes=False)
    yield from bad_handle(base, "handle", _CHANNEL, "g_config")

    setup = [
        "MvChannelHandle handle = g_http;",
        "struct MvHttpResponseData *data = ARENA(struct MvHttpResponseData);",
    ]
    base = _base("mvReadHttpResponseData", Phase.CHANNELS, setup, ["handle", "data"])
    yield from bad_object(base, "data", "struct MvHttpResponseData", writes=True)
    yield from bad_handle(base, "handle", _CHANNEL, "g_config")

    for call in ("mvReadHttpResponseHeader", "mvReadHttpResponseBody"):
        setup = ["MvChannelHandle handle = g_http;", "uint8_t *buf = ARENA_BUFFER(32);"]
        base = _base(call, Phase.CHANNELS, setup, ["handle", "0", "buf", "32"])
        yield from bad_buffer(base, "buf", "32", writes=True)
        yield from bad_handle(base, "handle", _CHANNEL, "g_config")


def _config() -> Iterator[Case]:
    setup = [
        "MvChannelHandle handle = g_config;",
        "struct MvConfigKeyFetchParams *request = new_config_fetch_params();",
    ]
    base = _base("mvSendConfigFetchRequest", Phase.CHANNELS, setup, ["handle", "request"])
    yield from bad_object(base, "request", "struct MvConfigKeyFetchParams", writes=False)
    yield from bad_handle(base, "handle", _CHANNEL, "g_http")

    setup = [
        "MvChannelHandle handle = g_config;",
        "struct MvConfigResponseData *data = ARENA(struct MvConfigResponseData);",
    ]
    base = _base("mvReadConfigFetchResponseData", Phase.CHANNELS, setup, ["handle", "data"])
    yield from bad_object(base, "data", "struct MvConfigResponseData", writes=True)
    yield from bad_handle(base, "handle", _CHANNEL, "g_http")

    setup = [
        "MvChannelHandle handle = g_config;",
        "struct MvConfigResponseReadItemParams *params = new_config_read_item_params();",
    ]
    base = _base("mvReadConfigResponseItem", Phase.CHANNELS, setup, ["handle", "params"])
    yield from bad_object(base, "params", "struct MvConfigResponseReadItemParams", writes=False)
    yield from bad_object(base, "params->result", "enum MvConfigKeyFetchResult", writes=True)
    yield from bad_buffer(base, "params->buf.data", "32", writes=True)
    yield from bad_object(base, "params->buf.length", "uint32_t", writes=True)
    yield from bad_handle(base, "handle", _CHANNEL, "g_http")


# MQTT calls taking (handle, pointer): the pointer's type, the constructor of a
# valid argument (None: a bare output in the arena) and whether the call writes
# through the pointer itself (reads of output-pointer structures do not).
_MQTT_POINTER_CALLS = (
    ("mvMqttGetNextReadableDataType", "enum MvMqttReadableDataType", None, True),
    ("mvMqttRequestConnect", "struct MvMqttConnectRequest", "new_mqtt_connect_request", False),
    ("mvMqttReadConnectResponse", "struct MvMqttConnectResponse", None, True),
    (
        "mvMqttRequestSubscribe",
        "struct MvMqttSubscribeRequest",
        "new_mqtt_subscribe_request",
        False,
    ),
    (
        "mvMqttReadSubscribeResponse",
        "struct MvMqttSubscribeResponse",
        "new_mqtt_subscribe_response",
        False,
    ),
    (
        "mvMqttRequestUnsubscribe",
        "struct MvMqttUnsubscribeRequest",
        "new_mqtt_unsubscribe_request",
        False,
    ),
    (
        "mvMqttReadUnsubscribeResponse",
        "struct MvMqttUnsubscribeResponse",
        "new_mqtt_unsubscribe_response",
        False,
    ),
    ("mvMqttRequestPublish", "struct MvMqttPublishRequest", "new_mqtt_publish_request", False),
    ("mvMqttReadPublishResponse", "struct MvMqttPublishResponse", None, True),
    ("mvMqttReceiveMessage", "struct MvMqttMessage", "new_mqtt_message", False),
    (
        "mvMqttReceiveLostMessageInfo",
        "struct MvMqttLostMessageInfo",
        "new_mqtt_lost_message_info",
        False,
    ),
    ("mvMqttReadDisconnectResponse", "struct MvMqttDisconnectResponse", None, True),
)


def _mqtt() -> Iterator[Case]:
    for call, ctype, constructor, writes in _MQTT_POINTER_CALLS:
        value = f"{constructor}()" if constructor else f"ARENA({ctype})"
        setup = ["MvChannelHandle handle = g_mqtt;", f"{ctype} *argument = {value};"]
        base = _base(call, Phase.CHANNELS, setup, ["handle", "argument"])
        yield from bad_object(base, "argument", ctype, writes=writes)
        yield from bad_handle(base, "handle", _CHANNEL, "g_http")

    base = _base(
        "mvMqttAcknowledgeMessage",
        Phase.CHANNELS,
        ["MvChannelHandle handle = g_mqtt;"],
        ["handle", "1"],
    )
    yield from bad_handle(base, "handle", _CHANNEL, "g_http")

    base = _base(
        "mvMqttRequestDisconnect", Phase.CHANNELS, ["MvChannelHandle handle = g_mqtt;"], ["handle"]
    )
    yield from bad_handle(base, "handle", _CHANNEL, "g_http")


CHANNEL_FAMILIES = (_open_channel, _generic_channel, _http, _config, _mqtt)
"""Case generators for the channel, HTTP, config-fetch and MQTT calls."""
