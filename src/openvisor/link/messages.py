"""Messages carried by the device link, and their versioned CBOR encoding.

Every message is a frozen dataclass with a wire ``KIND``. On the wire a
message is one CBOR map (RFC 8949)::

    {"v": 1, "k": KIND, "b": {field: value, ...}}

``v`` is the encoding version: a decoder rejects a higher version and
ignores body fields it does not know, so fields can be added without a new
version. Nested records (log records, config keys) are CBOR maps too.
``docs/protocol.md`` lists every kind with its topic and QoS.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

import cbor2

from openvisor.errors import LinkError

WIRE_VERSION = 1


@dataclass(frozen=True)
class Message:
    """Base class of every link message; subclasses set ``KIND`` and ``DURABLE``."""

    KIND: ClassVar[str] = ""
    # A durable message is written to the device's outbox before it is sent and
    # removed only when the broker acknowledges it (QoS 1), so it survives a
    # process restart and a broker outage.
    DURABLE: ClassVar[bool] = False


# ---------------------------------------------------------------- device to cloud


@dataclass(frozen=True)
class LogRecord:
    """One `mvServerLog` message with its sequence number and the time it was logged.

    ``micros`` is the microvisor's uptime at logging. ``unix_micros`` is the
    device's wall time at logging in µs since the epoch, or None when the device
    had no wall time (no time sync yet) when it sent the record.
    """

    seq: int
    micros: int
    text: bytes
    unix_micros: int | None = None


@dataclass(frozen=True)
class LogBatch(Message):
    """Application log messages, sent in order of ``seq``.

    ``sent_micros`` is the microvisor's uptime when the batch was sent, so the
    cloud can date records without ``unix_micros`` by their age at sending.
    """

    KIND: ClassVar[str] = "log"
    DURABLE: ClassVar[bool] = True
    records: tuple[LogRecord, ...] = ()
    sent_micros: int | None = None


@dataclass(frozen=True)
class Report(Message):
    """A device report such as a crash report or an update outcome.

    ``report_kind`` is ``"crash"`` or ``"update"``; ``body`` is a CBOR map whose
    fields the producing package documents.
    """

    KIND: ClassVar[str] = "report"
    DURABLE: ClassVar[bool] = True
    report_kind: str = ""
    report_id: str = ""
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hello(Message):
    """Sent on every connection: the device's public key and software versions."""

    KIND: ClassVar[str] = "hello"
    public_key_pem: str = ""
    kernel_version: int = 0
    bundle_sid: str = ""


@dataclass(frozen=True)
class ChannelOpen(Message):
    """The app opened a channel of ``channel_type`` (`MvChannelType` value)."""

    KIND: ClassVar[str] = "chan.open"
    channel: int = 0
    channel_type: int = 0
    endpoint: str = ""


@dataclass(frozen=True)
class HttpRequest(Message):
    """One `mvSendHttpRequest`; headers are the app's raw ``Name: value`` lines."""

    KIND: ClassVar[str] = "http.req"
    channel: int = 0
    method: str = ""
    url: str = ""
    headers: tuple[bytes, ...] = ()
    body: bytes = b""
    timeout_ms: int = 0


@dataclass(frozen=True)
class ConfigKey:
    """One key of a config fetch; ``scope`` and ``store`` are the ABI enum values."""

    scope: int
    store: int
    key: str


@dataclass(frozen=True)
class ConfigFetchRequest(Message):
    """One `mvSendConfigFetchRequest`."""

    KIND: ClassVar[str] = "cfg.req"
    channel: int = 0
    keys: tuple[ConfigKey, ...] = ()


@dataclass(frozen=True)
class MqttRequest(Message):
    """One MQTT channel request: ``op`` is connect, subscribe, unsubscribe,
    publish, ack or disconnect; ``args`` contains that operation's fields
    (``docs/protocol.md`` lists them)."""

    KIND: ClassVar[str] = "mqtt.req"
    channel: int = 0
    op: str = ""
    correlation_id: int = 0
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TimeRequest(Message):
    """Asks the cloud for the wall time, which it sends back in a `TimeSync`."""

    KIND: ClassVar[str] = "time.req"


# ---------------------------------------------------------------- both directions


@dataclass(frozen=True)
class ChannelData(Message):
    """Bytes on an opaque-bytes channel."""

    KIND: ClassVar[str] = "chan.data"
    channel: int = 0
    data: bytes = b""


@dataclass(frozen=True)
class ChannelClose(Message):
    """A channel ended; ``reason`` is an `MvClosureReason` value."""

    KIND: ClassVar[str] = "chan.close"
    channel: int = 0
    reason: int = 0


@dataclass(frozen=True)
class DebugFrame(Message):
    """One encrypted debug-tunnel frame; the link never looks inside."""

    KIND: ClassVar[str] = "debug"
    session: str = ""
    data: bytes = b""


# ---------------------------------------------------------------- cloud to device


@dataclass(frozen=True)
class HttpResponse(Message):
    """The outcome of an `HttpRequest`; ``result`` is an `MvHttpResult` value."""

    KIND: ClassVar[str] = "http.resp"
    channel: int = 0
    result: int = 0
    status_code: int = 0
    headers: tuple[bytes, ...] = ()
    body: bytes = b""


@dataclass(frozen=True)
class ConfigItem:
    """One fetched value; ``result`` is an `MvConfigKeyFetchResult` value."""

    result: int
    value: bytes


@dataclass(frozen=True)
class ConfigFetchResponse(Message):
    """The values of a `ConfigFetchRequest`, in request order."""

    KIND: ClassVar[str] = "cfg.resp"
    channel: int = 0
    items: tuple[ConfigItem, ...] = ()


@dataclass(frozen=True)
class MqttEvent(Message):
    """One MQTT channel event: ``event`` is connect, subscribe, unsubscribe,
    publish, disconnect, message or lost; ``args`` contains its fields."""

    KIND: ClassVar[str] = "mqtt.evt"
    channel: int = 0
    event: str = ""
    correlation_id: int = 0
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TimeSync(Message):
    """Wall time in microseconds since the Unix epoch, as the cloud saw it."""

    KIND: ClassVar[str] = "time"
    unix_micros: int = 0


@dataclass(frozen=True)
class LoggingControl(Message):
    """Turns `mvServerLog` delivery on or off for the device."""

    KIND: ClassVar[str] = "logctl"
    enabled: bool = True


@dataclass(frozen=True)
class Welcome(Message):
    """The cloud's reply to `Hello`: wall time, logging state and trust anchors."""

    KIND: ClassVar[str] = "welcome"
    unix_micros: int = 0
    logging_enabled: bool = True
    signing_keys_pem: tuple[str, ...] = ()


@dataclass(frozen=True)
class UpdateOffer(Message):
    """A deployment for the device: fetch bundle ``bundle_sid`` from ``url``.

    ``body`` carries fields the update engine documents (size, digest,
    polite flag and so on).
    """

    KIND: ClassVar[str] = "update"
    deployment_sid: str = ""
    bundle_sid: str = ""
    url: str = ""
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class UpdateCancel(Message):
    """The deployment was cancelled before the device installed it."""

    KIND: ClassVar[str] = "update.cancel"
    deployment_sid: str = ""


@dataclass(frozen=True)
class RestartRequest(Message):
    """A remote restart of the application (``"app"``) or the whole device (``"device"``)."""

    KIND: ClassVar[str] = "restart"
    target: str = "app"


UP_KINDS: frozenset[str] = frozenset(
    {
        LogBatch.KIND,
        Report.KIND,
        Hello.KIND,
        ChannelOpen.KIND,
        HttpRequest.KIND,
        ConfigFetchRequest.KIND,
        MqttRequest.KIND,
        TimeRequest.KIND,
        ChannelData.KIND,
        ChannelClose.KIND,
        DebugFrame.KIND,
    }
)
DOWN_KINDS: frozenset[str] = frozenset(
    {
        HttpResponse.KIND,
        ConfigFetchResponse.KIND,
        MqttEvent.KIND,
        TimeSync.KIND,
        LoggingControl.KIND,
        Welcome.KIND,
        UpdateOffer.KIND,
        UpdateCancel.KIND,
        RestartRequest.KIND,
        ChannelData.KIND,
        ChannelClose.KIND,
        DebugFrame.KIND,
    }
)

MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.KIND: cls
    for cls in (
        LogBatch,
        Report,
        Hello,
        ChannelOpen,
        HttpRequest,
        ConfigFetchRequest,
        MqttRequest,
        TimeRequest,
        ChannelData,
        ChannelClose,
        DebugFrame,
        HttpResponse,
        ConfigFetchResponse,
        MqttEvent,
        TimeSync,
        LoggingControl,
        Welcome,
        UpdateOffer,
        UpdateCancel,
        RestartRequest,
    )
}

# Record types that appear inside message tuples, by the tuple field's name.
_RECORD_FIELDS: dict[str, type[Any]] = {
    "records": LogRecord,
    "keys": ConfigKey,
    "items": ConfigItem,
}


def encode(message: Message) -> bytes:
    """Encode ``message`` as a versioned CBOR map."""
    body: dict[str, Any] = {}
    for item in dataclasses.fields(message):
        value = getattr(message, item.name)
        if item.name in _RECORD_FIELDS:
            value = [dataclasses.asdict(record) for record in value]
        elif isinstance(value, tuple):
            value = list(value)
        body[item.name] = value
    return cbor2.dumps({"v": WIRE_VERSION, "k": message.KIND, "b": body})


def decode(payload: bytes) -> Message:
    """Decode a CBOR payload into its message; raise `LinkError` when it is invalid."""
    try:
        envelope = cbor2.loads(payload)
    except (cbor2.CBORDecodeError, ValueError, TypeError) as exc:
        raise LinkError(f"link message is not valid CBOR ({exc}); drop it") from exc
    if not isinstance(envelope, dict):
        raise LinkError(f"link message is a {type(envelope).__name__}, expected a CBOR map")

    version = envelope.get("v")
    if not isinstance(version, int) or version < 1 or version > WIRE_VERSION:
        raise LinkError(
            f"link message version {version!r} is not supported (this build reads 1 to "
            f"{WIRE_VERSION}); upgrade openvisor on the older side"
        )
    kind = envelope.get("k")
    cls = MESSAGE_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise LinkError(f"link message kind {kind!r} is unknown")
    body = envelope.get("b", {})
    if not isinstance(body, dict):
        raise LinkError(f"link message {kind!r} has a body of type {type(body).__name__}")
    return _build(cls, body)


_HINTS: dict[str, dict[str, Any]] = {}


def _field_types(cls: type[Message]) -> dict[str, Any]:
    hints = _HINTS.get(cls.KIND)
    if hints is None:
        hints = _HINTS[cls.KIND] = typing.get_type_hints(cls)
    return hints


def _build(cls: type[Message], body: dict[str, Any]) -> Message:
    kwargs: dict[str, Any] = {}
    hints = _field_types(cls)
    for item in dataclasses.fields(cls):
        if item.name not in body:
            continue
        value = body[item.name]
        try:
            if item.name in _RECORD_FIELDS:
                record_cls = _RECORD_FIELDS[item.name]
                value = tuple(_build_record(record_cls, record) for record in value)
            else:
                value = _coerce(hints[item.name], value)
        except (TypeError, ValueError) as exc:
            raise LinkError(
                f"link message {cls.KIND!r} has an invalid field {item.name!r} ({exc})"
            ) from exc
        kwargs[item.name] = value
    return cls(**kwargs)


_RECORD_HINTS: dict[type[Any], dict[str, Any]] = {}


def _build_record(record_cls: type[Any], record: Any) -> Any:
    """Build one nested record, ignoring fields this build does not know."""
    if not isinstance(record, dict):
        raise TypeError(f"expected a map, got {type(record).__name__}")
    hints = _RECORD_HINTS.get(record_cls)
    if hints is None:
        hints = _RECORD_HINTS[record_cls] = typing.get_type_hints(record_cls)
    kwargs: dict[str, Any] = {}
    for item in dataclasses.fields(record_cls):
        if item.name in record:
            try:
                kwargs[item.name] = _coerce(hints[item.name], record[item.name])
            except TypeError as exc:
                raise TypeError(f"record field {item.name!r}: {exc}") from exc
    return record_cls(**kwargs)


def _coerce(hint: Any, value: Any) -> Any:
    """Check ``value`` against a field's type hint; CBOR lists become tuples."""
    origin = typing.get_origin(hint)
    if origin is types.UnionType:
        # Optional fields (``int | None``) accept None or a value of the other type.
        if value is None:
            return None
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise TypeError(f"expected a list, got {type(value).__name__}")
        return tuple(value)
    expected = origin or hint
    if expected is bool and not isinstance(value, bool):
        raise TypeError(f"expected a bool, got {type(value).__name__}")
    if expected is int and (not isinstance(value, int) or isinstance(value, bool)):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    if expected in (str, bytes, dict) and not isinstance(value, expected):
        raise TypeError(f"expected {expected.__name__}, got {type(value).__name__}")
    return value
