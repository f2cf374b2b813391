"""CBOR encoding of link messages: round trips, versioning and rejection of bad input."""

from __future__ import annotations

import cbor2
import pytest

from openvisor.errors import LinkError
from openvisor.link import messages as msg

SAMPLES: list[msg.Message] = [
    msg.LogBatch(
        records=(
            msg.LogRecord(seq=7, micros=1_000, text=b"boot \xff"),
            msg.LogRecord(seq=8, micros=2_000, text=b"x", unix_micros=1_700_000_000_000_000),
        ),
        sent_micros=3_000,
    ),
    msg.Report(report_kind="crash", report_id="r1", body={"pc": 0x0800_0100, "regs": [1, 2]}),
    msg.Hello(public_key_pem="-----BEGIN PUBLIC KEY-----", kernel_version=3, bundle_sid="KA1"),
    msg.ChannelOpen(channel=0xDEADBEEF, channel_type=2, endpoint=""),
    msg.HttpRequest(
        channel=5, method="GET", url="https://x/", headers=(b"A: b",), body=b"", timeout_ms=5000
    ),
    msg.ConfigFetchRequest(channel=5, keys=(msg.ConfigKey(scope=1, store=0, key="k"),)),
    msg.MqttRequest(channel=5, op="publish", correlation_id=9, args={"payload": b"\x00\x01"}),
    msg.TimeRequest(),
    msg.ChannelData(channel=1, data=b"\x00" * 600),
    msg.ChannelClose(channel=1, reason=6),
    msg.DebugFrame(session="DS1", data=b"ciphertext"),
    msg.HttpResponse(channel=5, result=0, status_code=200, headers=(b"A: b",), body=b"ok"),
    msg.ConfigFetchResponse(channel=5, items=(msg.ConfigItem(result=0, value=b"v"),)),
    msg.MqttEvent(channel=5, event="message", correlation_id=1, args={"topic": b"t"}),
    msg.TimeSync(unix_micros=1_700_000_000_000_000),
    msg.LoggingControl(enabled=False),
    msg.Welcome(unix_micros=1, logging_enabled=True, signing_keys_pem=("pem",)),
    msg.UpdateOffer(deployment_sid="DP1", bundle_sid="KA1", url="http://127.0.0.1/b", body={}),
    msg.UpdateCancel(deployment_sid="DP1"),
    msg.RestartRequest(target="device"),
]


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: m.KIND)
def test_round_trip(message: msg.Message) -> None:
    assert msg.decode(msg.encode(message)) == message


def test_every_kind_has_a_sample() -> None:
    assert {m.KIND for m in SAMPLES} == set(msg.MESSAGE_TYPES)


def test_envelope_layout() -> None:
    envelope = cbor2.loads(msg.encode(msg.TimeSync(unix_micros=5)))
    assert envelope == {"v": 1, "k": "time", "b": {"unix_micros": 5}}


def test_durable_kinds_are_logs_and_reports() -> None:
    durable = {kind for kind, cls in msg.MESSAGE_TYPES.items() if cls.DURABLE}
    assert durable == {"log", "report"}


def test_unknown_fields_are_ignored() -> None:
    payload = cbor2.dumps({"v": 1, "k": "time", "b": {"unix_micros": 5, "later": "field"}})
    assert msg.decode(payload) == msg.TimeSync(unix_micros=5)


def test_unknown_record_fields_are_ignored() -> None:
    record = {"seq": 1, "micros": 2, "text": b"t", "later": "field"}
    payload = cbor2.dumps({"v": 1, "k": "log", "b": {"records": [record]}})
    assert msg.decode(payload) == msg.LogBatch(records=(msg.LogRecord(seq=1, micros=2, text=b"t"),))


def test_log_record_without_wall_time() -> None:
    record = {"seq": 1, "micros": 2, "text": b"t"}
    decoded = msg.decode(cbor2.dumps({"v": 1, "k": "log", "b": {"records": [record]}}))
    assert isinstance(decoded, msg.LogBatch)
    assert decoded.records[0].unix_micros is None
    assert decoded.sent_micros is None


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\x00",
        cbor2.dumps([1, 2]),
        cbor2.dumps({"v": 2, "k": "time", "b": {}}),
        cbor2.dumps({"v": 0, "k": "time", "b": {}}),
        cbor2.dumps({"v": 1, "k": "nope", "b": {}}),
        cbor2.dumps({"v": 1, "k": "time", "b": []}),
        cbor2.dumps({"v": 1, "k": "time", "b": {"unix_micros": "5"}}),
        cbor2.dumps({"v": 1, "k": "logctl", "b": {"enabled": 1}}),
        cbor2.dumps({"v": 1, "k": "log", "b": {"records": [{"seq": 1}]}}),
        cbor2.dumps({"v": 1, "k": "log", "b": {"records": ["not a map"]}}),
        cbor2.dumps({"v": 1, "k": "chan.data", "b": {"data": "text"}}),
    ],
)
def test_invalid_payload_rejected(payload: bytes) -> None:
    with pytest.raises(LinkError):
        msg.decode(payload)


def _log_payload(record: dict[str, object], **body: object) -> bytes:
    return cbor2.dumps({"v": 1, "k": "log", "b": {"records": [record], **body}})


GOOD_RECORD = {"seq": 1, "micros": 2, "text": b"t"}


@pytest.mark.parametrize(
    "payload",
    [
        _log_payload({**GOOD_RECORD, "unix_micros": "1700000000000000"}),
        _log_payload({**GOOD_RECORD, "unix_micros": 1.7e15}),
        _log_payload({**GOOD_RECORD, "unix_micros": float("nan")}),
        _log_payload({**GOOD_RECORD, "unix_micros": True}),
        _log_payload({**GOOD_RECORD, "seq": "1"}),
        _log_payload({**GOOD_RECORD, "micros": None}),
        _log_payload({**GOOD_RECORD, "text": "not bytes"}),
        _log_payload(GOOD_RECORD, sent_micros="3000"),
        _log_payload(GOOD_RECORD, sent_micros=3.5),
        _log_payload(GOOD_RECORD, sent_micros=[1]),
    ],
)
def test_log_batch_field_types_checked(payload: bytes) -> None:
    with pytest.raises(LinkError):
        msg.decode(payload)
