"""HTTP, config-fetch and MQTT channel calls against a scripted cloud."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from openvisor.kernel.abi import (
    MvChannelType,
    MvConfigFetchResult,
    MvConfigKeyFetchResult,
    MvEventType,
    MvHttpResult,
    MvMqttReadableDataType,
    MvStatus,
)
from openvisor.kernel.structs import (
    CONFIG_KEY_FETCH_PARAMS,
    CONFIG_KEY_TO_FETCH,
    CONFIG_RESPONSE_DATA,
    CONFIG_RESPONSE_READ_ITEM_PARAMS,
    HTTP_HEADER,
    HTTP_REQUEST,
    HTTP_RESPONSE_DATA,
    MQTT_CONNECT_REQUEST,
    MQTT_CONNECT_RESPONSE,
    MQTT_LOST_MESSAGE_INFO,
    MQTT_MESSAGE,
    MQTT_PUBLISH_REQUEST,
    MQTT_PUBLISH_RESPONSE,
    MQTT_SUBSCRIBE_REQUEST,
    MQTT_SUBSCRIBE_RESPONSE,
    MQTT_SUBSCRIPTION,
    MQTT_WILL,
    NOTIFICATION_SETUP,
    OPEN_CHANNEL_PARAMS,
    REQUEST_NETWORK_PARAMS,
)
from openvisor.link import messages as msg

App = Any  # tests/unit/kernel_net/conftest.py: App
DEVICE = "UV" + "5" * 32


@pytest.fixture
def env(app: App) -> dict[str, int]:
    ring = app.alloc(128, 8)
    setup = app.put_struct(NOTIFICATION_SETUP, irq=51, buffer=ring, buffer_size=128)
    out = app.alloc(4)
    assert app.call("mvSetupNotifications", setup, out) == MvStatus.OKAY
    centre = app.u32(out)
    params = app.put_struct(REQUEST_NETWORK_PARAMS, version=1, v1__notification_handle=centre)
    assert app.call("mvRequestNetwork", params, out) == MvStatus.OKAY
    return {"centre": centre, "network": app.u32(out), "ring": ring}


def open_channel(app: App, env: dict[str, int], channel_type: int, size: int = 1024) -> int:
    rx, tx = app.alloc(size, 512), app.alloc(size, 512)
    params = app.put_struct(
        OPEN_CHANNEL_PARAMS,
        version=1,
        v1__notification_handle=env["centre"],
        v1__notification_tag=7,
        v1__network_handle=env["network"],
        v1__receive_buffer=rx,
        v1__receive_buffer_len=size,
        v1__send_buffer=tx,
        v1__send_buffer_len=size,
        v1__channel_type=channel_type,
    )
    out = app.alloc(4)
    assert app.call("mvOpenChannel", params, out) == MvStatus.OKAY
    return app.u32(out)


def sent(app: App, cls: type[msg.Message]) -> list[Any]:
    return [m for m in app.received if isinstance(m, cls)]


# ---------------------------------------------------------------- HTTP


def http_request(app: App, *, url: bytes = b"https://example.test/x", headers: int = 1) -> int:
    lines = [app.put(f"X-N: {i}".encode()) for i in range(headers)]
    table = app.put(b"".join(HTTP_HEADER.pack({"length": 6, "data": line}) for line in lines))
    return app.put_struct(
        HTTP_REQUEST,
        method__data=app.put(b"POST"),
        method__length=4,
        url__data=app.put(url),
        url__length=len(url),
        num_headers=headers,
        headers=table,
        body__data=app.put(b"payload"),
        body__length=7,
        timeout_ms=5000,
    )


def test_http_round_trip(app: App, env: dict[str, int]) -> None:
    channel = open_channel(app, env, MvChannelType.HTTP)
    data = app.alloc(16)
    assert app.call("mvReadHttpResponseData", channel, data) == MvStatus.RESPONSENOTPRESENT
    assert app.call("mvSendHttpRequest", channel, http_request(app, headers=2)) == MvStatus.OKAY
    request = sent(app, msg.HttpRequest)[0]
    assert (request.method, request.url, request.body) == (
        "POST",
        "https://example.test/x",
        b"payload",
    )
    assert request.headers == (b"X-N: 0", b"X-N: 1")
    assert request.timeout_ms == 5000
    assert app.call("mvSendHttpRequest", channel, http_request(app)) == MvStatus.REQUESTALREADYSENT

    body = bytes(range(100))
    app.service.send(
        DEVICE,
        msg.HttpResponse(
            channel=channel, result=0, status_code=201, headers=(b"A: 1", b"Bee: two"), body=body
        ),
    )
    app.pump()
    assert (MvEventType.CHANNELDATAREADABLE, 7) in app.notifications(env["ring"], 8)
    assert app.call("mvReadHttpResponseData", channel, data) == MvStatus.OKAY
    assert app.read_struct(data, HTTP_RESPONSE_DATA) == {
        "result": 0,
        "status_code": 201,
        "num_headers": 2,
        "body_length": 100,
    }
    buf = app.alloc(64)
    assert app.call("mvReadHttpResponseHeader", channel, 1, buf, 5) == MvStatus.OKAY
    assert app.machine.mem_read(buf, 6) == b"Bee: \x00"
    assert app.call("mvReadHttpResponseHeader", channel, 2, buf, 5) == MvStatus.INDEXINVALID
    assert app.call("mvReadHttpResponseBody", channel, 90, buf, 64) == MvStatus.OKAY
    assert app.machine.mem_read(buf, 10) == body[90:]
    assert app.call("mvReadHttpResponseBody", channel, 100, buf, 64) == MvStatus.OKAY
    assert app.call("mvReadHttpResponseBody", channel, 101, buf, 64) == MvStatus.OFFSETINVALID


def test_http_request_errors(app: App, env: dict[str, int]) -> None:
    channel = open_channel(app, env, MvChannelType.HTTP)
    assert app.call("mvSendHttpRequest", channel, http_request(app, headers=33)) == (
        MvStatus.TOOMANYELEMENTS
    )
    late = app.put_struct(HTTP_REQUEST, method__data=0x3000_0000, method__length=3)
    assert app.call("mvSendHttpRequest", channel, late) == MvStatus.LATEFAULT
    assert app.call("mvSendHttpRequest", channel, 0x0C00_0000) == MvStatus.PARAMETERFAULT
    huge = app.put_struct(
        HTTP_REQUEST,
        method__data=app.put(b"GET"),
        method__length=3,
        body__data=app.alloc(2000),
        body__length=2000,
    )
    assert app.call("mvSendHttpRequest", channel, huge) == MvStatus.INVALIDBUFFERSIZE
    config = open_channel(app, env, MvChannelType.CONFIGFETCH)
    assert app.call("mvSendHttpRequest", config, http_request(app)) == MvStatus.INVALIDHANDLE
    assert sent(app, msg.HttpRequest) == []


def test_http_response_too_large(app: App, env: dict[str, int]) -> None:
    channel = open_channel(app, env, MvChannelType.HTTP)
    app.call("mvSendHttpRequest", channel, http_request(app))
    app.service.send(DEVICE, msg.HttpResponse(channel=channel, status_code=200, body=b"x" * 2000))
    app.pump()
    data = app.alloc(16)
    assert app.call("mvReadHttpResponseData", channel, data) == MvStatus.OKAY
    assert app.read_struct(data, HTTP_RESPONSE_DATA)["result"] == MvHttpResult.RESPONSETOOLARGE
    assert app.call("mvReadHttpResponseBody", channel, 0, app.alloc(8), 8) == (
        MvStatus.REQUESTUNSUCCESSFUL
    )


# ---------------------------------------------------------------- config


def config_request(app: App, keys: list[tuple[int, int, bytes]]) -> int:
    table = b"".join(
        CONFIG_KEY_TO_FETCH.pack(
            {"scope": scope, "store": store, "key.data": app.put(key), "key.length": len(key)}
        )
        for scope, store, key in keys
    )
    return app.put_struct(
        CONFIG_KEY_FETCH_PARAMS, num_items=len(keys), keys_to_fetch=app.put(table)
    )


def test_config_fetch(app: App, env: dict[str, int]) -> None:
    channel = open_channel(app, env, MvChannelType.CONFIGFETCH)
    request = config_request(app, [(1, 1, b"colour"), (0, 0, b"token")])
    assert app.call("mvSendConfigFetchRequest", channel, request) == MvStatus.OKAY
    fetch = sent(app, msg.ConfigFetchRequest)[0]
    assert fetch.keys == (msg.ConfigKey(1, 1, "colour"), msg.ConfigKey(0, 0, "token"))
    assert app.call("mvSendConfigFetchRequest", channel, request) == MvStatus.REQUESTALREADYSENT

    app.service.send(
        DEVICE,
        msg.ConfigFetchResponse(
            channel=channel,
            items=(
                msg.ConfigItem(0, b"blue"),
                msg.ConfigItem(1, b""),
            ),
        ),
    )
    app.pump()
    data = app.alloc(8)
    assert app.call("mvReadConfigFetchResponseData", channel, data) == MvStatus.OKAY
    assert app.read_struct(data, CONFIG_RESPONSE_DATA) == {
        "result": MvConfigFetchResult.OK,
        "num_items": 2,
    }
    result, buf, length = app.alloc(4), app.alloc(16), app.alloc(4)

    def read(index: int, size: int = 16) -> int:
        params = app.put_struct(
            CONFIG_RESPONSE_READ_ITEM_PARAMS,
            item_index=index,
            result=result,
            buf__data=buf,
            buf__size=size,
            buf__length=length,
        )
        return int(app.call("mvReadConfigResponseItem", channel, params))

    assert read(0) == MvStatus.OKAY
    assert (app.u32(result), app.u32(length)) == (MvConfigKeyFetchResult.OK, 4)
    assert app.machine.mem_read(buf, 4) == b"blue"
    assert read(1) == MvStatus.OKAY
    assert app.u32(result) == MvConfigKeyFetchResult.KEYNOTFOUND
    assert read(2) == MvStatus.INDEXINVALID
    assert read(0, size=2) == MvStatus.INVALIDBUFFERSIZE
    assert app.u32(length) == 4


@pytest.mark.parametrize(
    ("keys", "status"),
    [
        ([(2, 1, b"k")], MvStatus.UNKNOWNCONFIGSCOPE),
        ([(1, 5, b"k")], MvStatus.UNKNOWNCONFIGSTORE),
        ([(1, 1, b"bad\x01")], MvStatus.INVALIDCONFIGKEY),
        ([(1, 1, b"")], MvStatus.INVALIDCONFIGKEY),
        ([(1, 1, b"k" * 101)], MvStatus.INVALIDCONFIGKEY),
        ([(1, 1, b"k")] * 17, MvStatus.TOOMANYCONFIGKEYS),
    ],
)
def test_config_fetch_rejects(app: App, env: dict[str, int], keys: Any, status: int) -> None:
    channel = open_channel(app, env, MvChannelType.CONFIGFETCH)
    assert app.call("mvSendConfigFetchRequest", channel, config_request(app, keys)) == status
    assert sent(app, msg.ConfigFetchRequest) == []


# ---------------------------------------------------------------- MQTT


def connect_request(app: App, *, host: bytes = b"127.0.0.1", will: bool = True) -> int:
    will_ptr = 0
    if will:
        will_ptr = app.put_struct(
            MQTT_WILL,
            topic__data=app.put(b"w"),
            topic__length=1,
            payload__data=app.put(b"gone"),
            payload__length=4,
            qos=1,
            retain=1,
        )
    return app.put_struct(
        MQTT_CONNECT_REQUEST,
        protocol_version=0,
        host__data=app.put(host),
        host__length=len(host),
        port=1884,
        clientid__data=app.put(b"client-1"),
        clientid__length=8,
        authentication__method=1,
        authentication__username_password__username__data=app.put(b"user"),
        authentication__username_password__username__length=4,
        authentication__username_password__password__data=app.put(b"pw"),
        authentication__username_password__password__length=2,
        keepalive=60,
        clean_start=1,
        will=will_ptr,
    )


def test_mqtt_connect_and_responses(app: App, env: dict[str, int]) -> None:
    channel = open_channel(app, env, MvChannelType.MQTT)
    kind = app.alloc(4)
    assert app.call("mvMqttGetNextReadableDataType", channel, kind) == MvStatus.OKAY
    assert app.u32(kind) == MvMqttReadableDataType.NONE
    assert app.call("mvMqttRequestConnect", channel, connect_request(app)) == MvStatus.OKAY
    request = sent(app, msg.MqttRequest)[0]
    assert request.op == "connect"
    assert request.args["host"] == "127.0.0.1"
    assert request.args["port"] == 1884
    assert request.args["password"] == b"pw"
    assert request.args["will"] == {"topic": "w", "payload": b"gone", "qos": 1, "retain": True}
    assert app.call("mvMqttRequestConnect", channel, connect_request(app)) == (
        MvStatus.REQUESTALREADYSENT
    )

    app.service.send(
        DEVICE,
        msg.MqttEvent(
            channel=channel, event="connect", args={"request_state": 0, "reason_code": 0}
        ),
    )
    app.service.send(
        DEVICE,
        msg.MqttEvent(
            channel=channel,
            event="publish",
            correlation_id=42,
            args={"request_state": 0, "reason_code": 0},
        ),
    )
    app.pump()
    app.call("mvMqttGetNextReadableDataType", channel, kind)
    assert app.u32(kind) == MvMqttReadableDataType.CONNECTRESPONSE
    out = app.alloc(16)
    assert app.call("mvMqttReadPublishResponse", channel, out) == MvStatus.WRONGDATAREQUESTED
    assert app.call("mvMqttReadConnectResponse", channel, out) == MvStatus.OKAY
    assert app.read_struct(out, MQTT_CONNECT_RESPONSE) == {"request_state": 0, "reason_code": 0}
    assert app.call("mvMqttReadPublishResponse", channel, out) == MvStatus.OKAY
    assert app.read_struct(out, MQTT_PUBLISH_RESPONSE)["correlation_id"] == 42
    assert app.call("mvMqttReadConnectResponse", channel, out) == MvStatus.RESPONSENOTPRESENT


def test_mqtt_connect_validation(app: App, env: dict[str, int]) -> None:
    channel = open_channel(app, env, MvChannelType.MQTT)
    empty_host = connect_request(app, host=b"")
    assert app.call("mvMqttRequestConnect", channel, empty_host) == MvStatus.REQUIREDELEMENTMISSING
    bad_will = app.put_struct(
        MQTT_CONNECT_REQUEST, host__data=app.put(b"h"), host__length=1, will=0x0C00_0000
    )
    assert app.call("mvMqttRequestConnect", channel, bad_will) == MvStatus.LATEFAULT
    assert sent(app, msg.MqttRequest) == []


def test_mqtt_subscribe_publish_receive(app: App, env: dict[str, int]) -> None:
    channel = open_channel(app, env, MvChannelType.MQTT)
    subs = app.put(
        b"".join(
            MQTT_SUBSCRIPTION.pack(
                {
                    "topic.data": app.put(t),
                    "topic.length": len(t),
                    "desired_qos": 1,
                    "nl": 0,
                    "rap": 0,
                    "rh": 0,
                }
            )
            for t in (b"a/#", b"b")
        )
    )
    subscribe = app.put_struct(
        MQTT_SUBSCRIBE_REQUEST, correlation_id=5, subscriptions=subs, num_subscriptions=2
    )
    assert app.call("mvMqttRequestSubscribe", channel, subscribe) == MvStatus.OKAY
    assert app.call("mvMqttRequestSubscribe", channel, subscribe) == MvStatus.RATELIMITED
    assert sent(app, msg.MqttRequest)[0].args == {"topics": [["a/#", 1], ["b", 1]]}
    nine = app.put_struct(
        MQTT_SUBSCRIBE_REQUEST, correlation_id=6, subscriptions=subs, num_subscriptions=9
    )
    assert app.call("mvMqttRequestSubscribe", channel, nine) == MvStatus.TOOMANYELEMENTS

    publish = app.put_struct(
        MQTT_PUBLISH_REQUEST,
        correlation_id=1,
        topic__data=app.put(b"t"),
        topic__length=1,
        payload__data=app.put(b"p"),
        payload__length=1,
        desired_qos=1,
    )
    for _ in range(8):
        assert app.call("mvMqttRequestPublish", channel, publish) == MvStatus.OKAY
        publish_id = app.u32(publish) + 1
        app.machine.mem_write(publish, struct.pack("<I", publish_id))
    assert app.call("mvMqttRequestPublish", channel, publish) == MvStatus.RATELIMITED

    app.service.send(
        DEVICE,
        msg.MqttEvent(
            channel=channel,
            event="subscribe",
            correlation_id=5,
            args={"request_state": 0, "reason_codes": [1, 0]},
        ),
    )
    app.service.send(
        DEVICE,
        msg.MqttEvent(
            channel=channel,
            event="message",
            correlation_id=77,
            args={"topic": b"a/x", "payload": b"data", "qos": 1, "retain": True},
        ),
    )
    app.service.send(
        DEVICE,
        msg.MqttEvent(
            channel=channel,
            event="message",
            correlation_id=78,
            args={"topic": b"a/big", "payload": b"y" * 2000, "qos": 1},
        ),
    )
    app.pump()

    state, corr, codes, codes_len = app.alloc(4), app.alloc(4), app.alloc(8), app.alloc(4)
    small = app.put_struct(
        MQTT_SUBSCRIBE_RESPONSE,
        request_state=state,
        correlation_id=corr,
        reason_codes=codes,
        reason_codes_size=1,
        reason_codes_len=codes_len,
    )
    assert app.call("mvMqttReadSubscribeResponse", channel, small) == MvStatus.INVALIDBUFFERSIZE
    fits = app.put_struct(
        MQTT_SUBSCRIBE_RESPONSE,
        request_state=state,
        correlation_id=corr,
        reason_codes=codes,
        reason_codes_size=2,
        reason_codes_len=codes_len,
    )
    assert app.call("mvMqttReadSubscribeResponse", channel, fits) == MvStatus.OKAY
    assert (app.u32(corr), app.u32(codes_len), app.u32(codes)) == (5, 2, 1)

    topic, payload = app.alloc(16), app.alloc(16)
    lengths = [app.alloc(4) for _ in range(4)]
    retain = app.alloc(1)
    message = app.put_struct(
        MQTT_MESSAGE,
        correlation_id=lengths[0],
        topic__data=topic,
        topic__size=16,
        topic__length=lengths[1],
        payload__data=payload,
        payload__size=16,
        payload__length=lengths[2],
        qos=lengths[3],
        retain=retain,
    )
    assert app.call("mvMqttReceiveMessage", channel, message) == MvStatus.OKAY
    assert app.u32(lengths[0]) == 77
    assert app.machine.mem_read(topic, app.u32(lengths[1])) == b"a/x"
    assert app.machine.mem_read(payload, app.u32(lengths[2])) == b"data"
    assert app.machine.mem_read(retain, 1) == b"\x01"
    assert app.call("mvMqttAcknowledgeMessage", channel, 77) == MvStatus.OKAY
    acks = [m for m in sent(app, msg.MqttRequest) if m.op == "ack"]
    assert [a.correlation_id for a in acks] == [78, 77]

    kind = app.alloc(4)
    app.call("mvMqttGetNextReadableDataType", channel, kind)
    assert app.u32(kind) == MvMqttReadableDataType.MESSAGELOST
    reason, lost_len = app.alloc(4), app.alloc(4)
    lost = app.put_struct(
        MQTT_LOST_MESSAGE_INFO,
        reason=reason,
        topic__data=topic,
        topic__size=16,
        topic__length=lengths[1],
        message_len=lost_len,
    )
    assert app.call("mvMqttReceiveLostMessageInfo", channel, lost) == MvStatus.OKAY
    assert app.u32(lost_len) == 2000
    assert app.machine.mem_read(topic, 5) == b"a/big"


def test_mqtt_reads_survive_remote_close(app: App, env: dict[str, int]) -> None:
    channel = open_channel(app, env, MvChannelType.MQTT)
    app.service.send(
        DEVICE,
        msg.MqttEvent(
            channel=channel, event="disconnect", args={"request_state": 3, "disconnect_code": 0x8E}
        ),
    )
    app.service.send(DEVICE, msg.ChannelClose(channel=channel, reason=4))
    app.pump()
    assert app.call("mvMqttRequestDisconnect", channel) == MvStatus.CHANNELCLOSED
    out = app.alloc(8)
    assert app.call("mvMqttReadDisconnectResponse", channel, out) == MvStatus.OKAY
    assert app.u32(out + 4) == 0x8E
