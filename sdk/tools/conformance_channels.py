"""Conformance cases of the channel families: channels, HTTP, config fetch and MQTT.

They run once the network is connected and the firmware has one open HTTP
channel (``g_http``), one config-fetch channel (``g_config``) and one MQTT
channel (``g_mqtt``). The opaque-byte cases run later, once an OPAQUEBYTES
channel (``g_opaque``) takes the fourth and last channel slot. The ``new_*`` constructors of the firmware build valid
request structures in the canary arena.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

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
_LATE = "bad pointer nested in a request: nothing is sent and the app closes the channel"


def late_fault_buffer(
    base: _Base, lvalue: str, length: str, before: list[str] | None = None
) -> Iterator[Case]:
    """Point a byte string nested in a request at each bad place: MV_STATUS_LATEFAULT."""
    for kind in IN_KINDS:
        change = [*(before or []), f"{lvalue} = BAD_BUFFER({_KIND_MACRO[kind]}, {length});"]
        yield base.case(f"{lvalue}={kind}", change, "LATEFAULT", _LATE)


def late_fault_object(
    base: _Base, lvalue: str, ctype: str, *, optional: bool = False
) -> Iterator[Case]:
    """Point a structure nested in a request at each bad place: MV_STATUS_LATEFAULT.

    An ``optional`` pointer may be NULL, so NULL is not one of its bad places.
    """
    for kind in IN_KINDS:
        if optional and kind == "null":
            continue
        change = [f"{lvalue} = BAD_OBJECT({_KIND_MACRO[kind]}, {ctype});"]
        yield base.case(f"{lvalue}={kind}", change, "LATEFAULT", _LATE)
    yield base.case(
        f"{lvalue}=misaligned", [f"{lvalue} = MISALIGNED({lvalue});"], "LATEFAULT", _LATE
    )


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

    # The documentation names no OPAQUEBYTES endpoint: the firmware opens
    # "conformance", which openvisor accepts (letters, digits and ._:/-).
    note = "opaque channel on an openvisor endpoint"
    setup = [
        "MvChannelHandle handle = g_opaque;",
        "uint8_t **pointer = ARENA(uint8_t *);",
        "uint32_t *length = ARENA(uint32_t);",
    ]
    base = _base("mvReadChannel", Phase.FULL, setup, ["handle", "pointer", "length"])
    yield from _with_note(bad_object(base, "pointer", "uint8_t *", writes=True), note)
    yield from _with_note(bad_object(base, "length", "uint32_t", writes=True), note)
    yield from _unknown_handles(base)

    base = _base(
        "mvReadChannelComplete",
        Phase.FULL,
        ["MvChannelHandle handle = g_opaque;"],
        ["handle", "0"],
    )
    yield from _unknown_handles(base)

    for call in ("mvWriteChannelStream", "mvWriteChannel"):
        setup = [
            "MvChannelHandle handle = g_opaque;",
            'const uint8_t *data = (const uint8_t *)"ping";',
            "uint32_t *count = ARENA(uint32_t);",
        ]
        base = _base(call, Phase.FULL, setup, ["handle", "data", "4", "count"])
        yield from _with_note(bad_buffer(base, "data", "4", writes=False), note)
        yield from _with_note(bad_object(base, "count", "uint32_t", writes=True), note)
        yield from _unknown_handles(base)

    base = _base(
        "mvOpenChannel",
        Phase.FULL,
        [
            "struct MvOpenChannelParams *params = new_open_channel_params();",
            "MvChannelHandle *handle = ARENA(MvChannelHandle);",
        ],
        ["params", "handle"],
        paced=True,
    )
    yield base.case("fifth-channel", [], "TOOMANYCHANNELS")


def _with_note(cases: Iterator[Case], note: str) -> Iterator[Case]:
    for case in cases:
        yield replace(case, note=note)


def _unknown_handles(base: _Base) -> Iterator[Case]:
    """Zero and never-issued handles only: a channel of another kind is still a channel."""
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
    header = "((struct MvHttpHeader *)request->headers)"
    yield from late_fault_buffer(base, "request->method.data", "request->method.length")
    yield from late_fault_buffer(base, "request->url.data", "request->url.length")
    yield from late_fault_buffer(base, "request->body.data", "4", ["request->body.length = 4;"])
    yield from late_fault_object(base, "request->headers", "struct MvHttpHeader")
    yield from late_fault_buffer(base, f"{header}->data", f"{header}->length")
    yield base.case("request->num_headers=33", ["request->num_headers = 33;"], "TOOMANYELEMENTS")

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
    key = "((struct MvConfigKeyToFetch *)request->keys_to_fetch)"
    yield from late_fault_object(base, "request->keys_to_fetch", "struct MvConfigKeyToFetch")
    yield from late_fault_buffer(base, f"{key}->key.data", f"{key}->key.length")
    yield base.case(
        "key->scope=5",
        [f"{key}->scope = (enum MvConfigKeyFetchScope)5;"],
        "UNKNOWNCONFIGSCOPE",
    )
    yield base.case(
        "key->store=5",
        [f"{key}->store = (enum MvConfigKeyFetchStore)5;"],
        "UNKNOWNCONFIGSTORE",
    )
    yield base.case(
        "key->key=unprintable",
        [f'{key}->key.data = (const uint8_t *)"\\001";', f"{key}->key.length = 1;"],
        "INVALIDCONFIGKEY",
    )
    yield base.case(
        "request->num_items=17",
        ["request->num_items = 17;"],
        "TOOMANYCONFIGKEYS",
        "default limit: 16 keys per fetch",
    )

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

    yield from _mqtt_requests()

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


def _mqtt_requests() -> Iterator[Case]:
    """Nested pointers and element counts of the MQTT request structures."""
    setup = ["MvChannelHandle handle = g_mqtt;"]
    connect = _base(
        "mvMqttRequestConnect",
        Phase.CHANNELS,
        [*setup, "struct MvMqttConnectRequest *argument = new_mqtt_connect_request();"],
        ["handle", "argument"],
    )
    tls = "((struct MvTlsCredentials *)argument->tls_credentials)"
    yield from late_fault_buffer(connect, "argument->host.data", "argument->host.length")
    yield from late_fault_buffer(connect, "argument->clientid.data", "argument->clientid.length")
    yield from late_fault_object(
        connect, "argument->tls_credentials", "struct MvTlsCredentials", optional=True
    )
    yield from late_fault_object(connect, "argument->will", "struct MvMqttWill", optional=True)
    yield connect.case(
        "argument->host.length=0", ["argument->host.length = 0;"], "REQUIREDELEMENTMISSING"
    )
    yield connect.case(
        "argument->clientid.length=0",
        ["argument->clientid.length = 0;"],
        "REQUIREDELEMENTMISSING",
    )
    yield connect.case(
        "tls->cacert.num_certs=9",
        [
            f"{tls}->cacert.num_certs = 9;",
            f"{tls}->cacert.certs = ARENA_ARRAY(struct MvSizedString, 9);",
        ],
        "TOOMANYELEMENTS",
    )
    yield connect.case(
        "authentication=password+certificate",
        ["add_password_and_certificate(argument);"],
        "INVALIDAUTHENTICATION",
    )

    subscribe = _base(
        "mvMqttRequestSubscribe",
        Phase.CHANNELS,
        [*setup, "struct MvMqttSubscribeRequest *argument = new_mqtt_subscribe_request();"],
        ["handle", "argument"],
    )
    subscription = "((struct MvMqttSubscription *)argument->subscriptions)"
    yield from late_fault_object(subscribe, "argument->subscriptions", "struct MvMqttSubscription")
    yield from late_fault_buffer(
        subscribe, f"{subscription}->topic.data", f"{subscription}->topic.length"
    )
    yield subscribe.case(
        "argument->num_subscriptions=9",
        [
            "argument->num_subscriptions = 9;",
            "argument->subscriptions = ARENA_ARRAY(struct MvMqttSubscription, 9);",
        ],
        "TOOMANYELEMENTS",
    )

    unsubscribe = _base(
        "mvMqttRequestUnsubscribe",
        Phase.CHANNELS,
        [*setup, "struct MvMqttUnsubscribeRequest *argument = new_mqtt_unsubscribe_request();"],
        ["handle", "argument"],
    )
    topic = "((struct MvSizedString *)argument->topics)"
    yield from late_fault_object(unsubscribe, "argument->topics", "struct MvSizedString")
    yield from late_fault_buffer(unsubscribe, f"{topic}->data", f"{topic}->length")
    yield unsubscribe.case(
        "argument->num_topics=9",
        [
            "argument->num_topics = 9;",
            "argument->topics = ARENA_ARRAY(struct MvSizedString, 9);",
        ],
        "TOOMANYELEMENTS",
    )

    publish = _base(
        "mvMqttRequestPublish",
        Phase.CHANNELS,
        [*setup, "struct MvMqttPublishRequest *argument = new_mqtt_publish_request();"],
        ["handle", "argument"],
    )
    yield from late_fault_buffer(publish, "argument->topic.data", "argument->topic.length")
    yield from late_fault_buffer(publish, "argument->payload.data", "argument->payload.length")


CHANNEL_FAMILIES = (_open_channel, _generic_channel, _http, _config, _mqtt)
"""Case generators for the channel, HTTP, config-fetch and MQTT calls."""
