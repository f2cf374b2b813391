"""Byte layouts of the Microvisor ABI structures, little endian, 32-bit AAPCS.

Each :class:`Layout` is the structure's byte-layout table: ``(offset, struct
format, member)`` rows, taken from the SDK header for the STM32U585. Format
letters are those of :mod:`struct`: ``Q`` uint64_t, ``I`` a 4-byte word (uint32_t,
pointer, handle or 4-byte enum), ``H`` uint16_t, ``B`` uint8_t or a one-byte enum.
Members of a nested structure or of the ``v1`` union keep the dotted C path.
Gaps are padding and are neither read nor written.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

_WIDTHS = {"Q": 8, "I": 4, "H": 2, "B": 1}


@dataclass(frozen=True)
class Layout:
    """One structure's byte layout and its packed :class:`struct.Struct` codec.

    Example::

        >>> SIZED_STRING.unpack(bytes.fromhex("0010002005000000"))
        {'data': 536875008, 'length': 5}
    """

    name: str
    size: int
    fields: list[tuple[int, str, str]]
    codec: struct.Struct = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fmt = "<"
        position = 0
        for offset, letter, member in self.fields:
            if offset < position:
                raise ValueError(f"{self.name}.{member} at +{offset} overlaps the member before it")
            fmt += "x" * (offset - position) + letter
            position = offset + _WIDTHS[letter]
        fmt += "x" * (self.size - position)
        codec = struct.Struct(fmt)
        if codec.size != self.size:
            raise ValueError(f"{self.name} packs to {codec.size} bytes, expected {self.size}")
        object.__setattr__(self, "codec", codec)

    @property
    def members(self) -> list[str]:
        """Member names in offset order."""
        return [member for _, _, member in self.fields]

    def offset_of(self, member: str) -> int:
        """Byte offset of ``member`` within the structure."""
        for offset, _, name in self.fields:
            if name == member:
                return offset
        raise KeyError(f"{self.name} has no member {member!r}")

    def unpack(self, data: bytes) -> dict[str, int]:
        """Decode ``size`` bytes into a member-name to value mapping."""
        return dict(zip(self.members, self.codec.unpack(data), strict=True))

    def pack(self, values: dict[str, int]) -> bytes:
        """Encode a full member mapping; padding bytes come out as zero."""
        return self.codec.pack(*(values[member] for member in self.members))


NOTIFICATION = Layout(
    "MvNotification",
    16,
    [
        (0, "Q", "microseconds"),  # uint64_t
        (8, "I", "event_type"),  # enum MvEventType
        (12, "I", "tag"),  # uint32_t
    ],
)

NOTIFICATION_SETUP = Layout(
    "MvNotificationSetup",
    12,
    [
        (0, "I", "irq"),  # uint32_t
        (4, "I", "buffer"),  # struct MvNotification *
        (8, "I", "buffer_size"),  # uint32_t
    ],
)

REQUEST_NETWORK_PARAMS = Layout(
    "MvRequestNetworkParams",
    12,
    [
        (0, "I", "version"),  # uint32_t
        (4, "I", "v1.notification_handle"),  # MvNotificationHandle
        (8, "I", "v1.notification_tag"),  # uint32_t
    ],
)

SIZED_STRING = Layout(
    "MvSizedString",
    8,
    [
        (0, "I", "data"),  # const uint8_t *
        (4, "I", "length"),  # uint32_t
    ],
)

OPEN_CHANNEL_PARAMS = Layout(
    "MvOpenChannelParams",
    44,
    [
        (0, "I", "version"),  # uint32_t
        (4, "I", "v1.notification_handle"),  # MvNotificationHandle
        (8, "I", "v1.notification_tag"),  # uint32_t
        (12, "I", "v1.network_handle"),  # MvNetworkHandle
        (16, "I", "v1.receive_buffer"),  # uint8_t *
        (20, "I", "v1.receive_buffer_len"),  # uint32_t
        (24, "I", "v1.send_buffer"),  # uint8_t *
        (28, "I", "v1.send_buffer_len"),  # uint32_t
        (32, "I", "v1.channel_type"),  # enum MvChannelType
        (36, "I", "v1.endpoint.data"),  # const uint8_t *
        (40, "I", "v1.endpoint.length"),  # uint32_t
    ],
)

HTTP_HEADER = Layout(
    "MvHttpHeader",
    8,
    [
        (0, "I", "length"),  # uint32_t
        (4, "I", "data"),  # const uint8_t *
    ],
)

HTTP_REQUEST = Layout(
    "MvHttpRequest",
    36,
    [
        (0, "I", "method.data"),  # const uint8_t *
        (4, "I", "method.length"),  # uint32_t
        (8, "I", "url.data"),  # const uint8_t *
        (12, "I", "url.length"),  # uint32_t
        (16, "I", "num_headers"),  # uint32_t
        (20, "I", "headers"),  # const struct MvHttpHeader *
        (24, "I", "body.data"),  # const uint8_t *
        (28, "I", "body.length"),  # uint32_t
        (32, "I", "timeout_ms"),  # uint32_t
    ],
)

HTTP_RESPONSE_DATA = Layout(
    "MvHttpResponseData",
    16,
    [
        (0, "I", "result"),  # enum MvHttpResult
        (4, "I", "status_code"),  # uint32_t
        (8, "I", "num_headers"),  # uint32_t
        (12, "I", "body_length"),  # uint32_t
    ],
)

CONFIG_KEY_TO_FETCH = Layout(
    "MvConfigKeyToFetch",
    16,
    [
        (0, "I", "scope"),  # enum MvConfigKeyFetchScope
        (4, "I", "store"),  # enum MvConfigKeyFetchStore
        (8, "I", "key.data"),  # const uint8_t *
        (12, "I", "key.length"),  # uint32_t
    ],
)

CONFIG_KEY_FETCH_PARAMS = Layout(
    "MvConfigKeyFetchParams",
    8,
    [
        (0, "I", "num_items"),  # uint32_t
        (4, "I", "keys_to_fetch"),  # const struct MvConfigKeyToFetch *
    ],
)

CONFIG_RESPONSE_DATA = Layout(
    "MvConfigResponseData",
    8,
    [
        (0, "I", "result"),  # enum MvConfigFetchResult
        (4, "I", "num_items"),  # uint32_t
    ],
)

SIZED_STRING_BUFFER = Layout(
    "MvSizedStringBuffer",
    12,
    [
        (0, "I", "data"),  # uint8_t *
        (4, "I", "size"),  # uint32_t
        (8, "I", "length"),  # uint32_t *
    ],
)

CONFIG_RESPONSE_READ_ITEM_PARAMS = Layout(
    "MvConfigResponseReadItemParams",
    20,
    [
        (0, "I", "item_index"),  # uint32_t
        (4, "I", "result"),  # enum MvConfigKeyFetchResult *
        (8, "I", "buf.data"),  # uint8_t *
        (12, "I", "buf.size"),  # uint32_t
        (16, "I", "buf.length"),  # uint32_t *
    ],
)

USERNAME_PASSWORD = Layout(
    "MvUsernamePassword",
    16,
    [
        (0, "I", "username.data"),  # const uint8_t *
        (4, "I", "username.length"),  # uint32_t
        (8, "I", "password.data"),  # const uint8_t *
        (12, "I", "password.length"),  # uint32_t
    ],
)

MQTT_AUTHENTICATION = Layout(
    "MvMqttAuthentication",
    20,
    [
        (0, "B", "method"),  # enum MvMqttAuthenticationMethod
        (4, "I", "username_password.username.data"),  # const uint8_t *
        (8, "I", "username_password.username.length"),  # uint32_t
        (12, "I", "username_password.password.data"),  # const uint8_t *
        (16, "I", "username_password.password.length"),  # uint32_t
    ],
)

TLS_CERTIFICATE_CHAIN = Layout(
    "MvTlsCertificateChain",
    8,
    [
        (0, "I", "num_certs"),  # uint32_t
        (4, "I", "certs"),  # const struct MvSizedString *
    ],
)

OWN_TLS_CERTIFICATE_CHAIN = Layout(
    "MvOwnTlsCertificateChain",
    16,
    [
        (0, "I", "chain.num_certs"),  # uint32_t
        (4, "I", "chain.certs"),  # const struct MvSizedString *
        (8, "I", "key.data"),  # const uint8_t *
        (12, "I", "key.length"),  # uint32_t
    ],
)

TLS_CREDENTIALS = Layout(
    "MvTlsCredentials",
    24,
    [
        (0, "I", "cacert.num_certs"),  # uint32_t
        (4, "I", "cacert.certs"),  # const struct MvSizedString *
        (8, "I", "clientcert.chain.num_certs"),  # uint32_t
        (12, "I", "clientcert.chain.certs"),  # const struct MvSizedString *
        (16, "I", "clientcert.key.data"),  # const uint8_t *
        (20, "I", "clientcert.key.length"),  # uint32_t
    ],
)

MQTT_WILL = Layout(
    "MvMqttWill",
    24,
    [
        (0, "I", "topic.data"),  # const uint8_t *
        (4, "I", "topic.length"),  # uint32_t
        (8, "I", "payload.data"),  # const uint8_t *
        (12, "I", "payload.length"),  # uint32_t
        (16, "I", "qos"),  # uint32_t
        (20, "B", "retain"),  # uint8_t
    ],
)

MQTT_CONNECT_REQUEST = Layout(
    "MvMqttConnectRequest",
    60,
    [
        (0, "I", "protocol_version"),  # enum MvMqttProtocolVersion
        (4, "I", "host.data"),  # const uint8_t *
        (8, "I", "host.length"),  # uint32_t
        (12, "H", "port"),  # uint16_t
        (16, "I", "clientid.data"),  # const uint8_t *
        (20, "I", "clientid.length"),  # uint32_t
        (24, "B", "authentication.method"),  # enum MvMqttAuthenticationMethod
        (28, "I", "authentication.username_password.username.data"),  # const uint8_t *
        (32, "I", "authentication.username_password.username.length"),  # uint32_t
        (36, "I", "authentication.username_password.password.data"),  # const uint8_t *
        (40, "I", "authentication.username_password.password.length"),  # uint32_t
        (44, "I", "tls_credentials"),  # const struct MvTlsCredentials *
        (48, "I", "keepalive"),  # uint32_t
        (52, "B", "clean_start"),  # uint8_t
        (56, "I", "will"),  # const struct MvMqttWill *
    ],
)

MQTT_CONNECT_RESPONSE = Layout(
    "MvMqttConnectResponse",
    8,
    [
        (0, "I", "request_state"),  # enum MvMqttRequestState
        (4, "I", "reason_code"),  # uint32_t
    ],
)

MQTT_SUBSCRIPTION = Layout(
    "MvMqttSubscription",
    24,
    [
        (0, "I", "topic.data"),  # const uint8_t *
        (4, "I", "topic.length"),  # uint32_t
        (8, "I", "desired_qos"),  # uint32_t
        (12, "I", "nl"),  # uint32_t
        (16, "I", "rap"),  # uint32_t
        (20, "I", "rh"),  # uint32_t
    ],
)

MQTT_SUBSCRIBE_REQUEST = Layout(
    "MvMqttSubscribeRequest",
    12,
    [
        (0, "I", "correlation_id"),  # uint32_t
        (4, "I", "subscriptions"),  # const struct MvMqttSubscription *
        (8, "I", "num_subscriptions"),  # uint32_t
    ],
)

MQTT_SUBSCRIBE_RESPONSE = Layout(
    "MvMqttSubscribeResponse",
    20,
    [
        (0, "I", "request_state"),  # enum MvMqttRequestState *
        (4, "I", "correlation_id"),  # uint32_t *
        (8, "I", "reason_codes"),  # uint32_t *
        (12, "I", "reason_codes_size"),  # uint32_t
        (16, "I", "reason_codes_len"),  # uint32_t *
    ],
)

MQTT_UNSUBSCRIBE_REQUEST = Layout(
    "MvMqttUnsubscribeRequest",
    12,
    [
        (0, "I", "correlation_id"),  # uint32_t
        (4, "I", "topics"),  # const struct MvSizedString *
        (8, "I", "num_topics"),  # uint32_t
    ],
)

MQTT_UNSUBSCRIBE_RESPONSE = Layout(
    "MvMqttUnsubscribeResponse",
    20,
    [
        (0, "I", "request_state"),  # enum MvMqttRequestState *
        (4, "I", "correlation_id"),  # uint32_t *
        (8, "I", "reason_codes"),  # uint32_t *
        (12, "I", "reason_codes_size"),  # uint32_t
        (16, "I", "reason_codes_len"),  # uint32_t *
    ],
)

MQTT_PUBLISH_REQUEST = Layout(
    "MvMqttPublishRequest",
    28,
    [
        (0, "I", "correlation_id"),  # uint32_t
        (4, "I", "topic.data"),  # const uint8_t *
        (8, "I", "topic.length"),  # uint32_t
        (12, "I", "payload.data"),  # const uint8_t *
        (16, "I", "payload.length"),  # uint32_t
        (20, "I", "desired_qos"),  # uint32_t
        (24, "I", "retain"),  # uint32_t
    ],
)

MQTT_PUBLISH_RESPONSE = Layout(
    "MvMqttPublishResponse",
    12,
    [
        (0, "I", "request_state"),  # enum MvMqttRequestState
        (4, "I", "correlation_id"),  # uint32_t
        (8, "I", "reason_code"),  # uint32_t
    ],
)

MQTT_MESSAGE = Layout(
    "MvMqttMessage",
    36,
    [
        (0, "I", "correlation_id"),  # uint32_t *
        (4, "I", "topic.data"),  # uint8_t *
        (8, "I", "topic.size"),  # uint32_t
        (12, "I", "topic.length"),  # uint32_t *
        (16, "I", "payload.data"),  # uint8_t *
        (20, "I", "payload.size"),  # uint32_t
        (24, "I", "payload.length"),  # uint32_t *
        (28, "I", "qos"),  # uint32_t *
        (32, "I", "retain"),  # uint8_t *
    ],
)

MQTT_LOST_MESSAGE_INFO = Layout(
    "MvMqttLostMessageInfo",
    20,
    [
        (0, "I", "reason"),  # enum MvMqttLostMessageReason *
        (4, "I", "topic.data"),  # uint8_t *
        (8, "I", "topic.size"),  # uint32_t
        (12, "I", "topic.length"),  # uint32_t *
        (16, "I", "message_len"),  # uint32_t *
    ],
)

MQTT_DISCONNECT_RESPONSE = Layout(
    "MvMqttDisconnectResponse",
    8,
    [
        (0, "I", "request_state"),  # enum MvMqttRequestState
        (4, "I", "disconnect_code"),  # uint32_t
    ],
)

OPEN_SYSTEM_NOTIFICATION_PARAMS = Layout(
    "MvOpenSystemNotificationParams",
    12,
    [
        (0, "I", "notification_handle"),  # MvNotificationHandle
        (4, "I", "notification_tag"),  # uint32_t
        (8, "I", "notification_source"),  # enum MvSystemNotificationSource
    ],
)

EXTERNAL_FLASH_INFO = Layout(
    "MvExternalFlashInfo",
    16,
    [
        (0, "I", "version"),  # uint32_t
        (4, "I", "v1.chip_id"),  # uint32_t
        (8, "I", "v1.size"),  # uint32_t
        (12, "I", "v1.num_handles"),  # uint32_t
    ],
)

WIFI_CONFIG = Layout(
    "MvWifiConfig",
    24,
    [
        (0, "I", "version"),  # uint32_t
        (4, "B", "v1.config_mode"),  # enum MvWifiConfigMode
        (8, "I", "v1.wifi_ssid.data"),  # const uint8_t *
        (12, "I", "v1.wifi_ssid.length"),  # uint32_t
        (16, "I", "v1.wifi_password.data"),  # const uint8_t *
        (20, "I", "v1.wifi_password.length"),  # uint32_t
    ],
)

WIFI_CONFIG_OUT = Layout(
    "MvWifiConfigOut",
    20,
    [
        (0, "I", "version"),  # uint32_t
        (4, "I", "v1.ssid.data"),  # uint8_t *
        (8, "I", "v1.ssid.size"),  # uint32_t
        (12, "I", "v1.ssid.length"),  # uint32_t *
        (16, "I", "v1.has_encryption"),  # uint8_t *
    ],
)

ALL_LAYOUTS: list[Layout] = [
    value for value in list(globals().values()) if isinstance(value, Layout)
]
