"""Topic layout, presence payloads and the per-device access rule."""

from __future__ import annotations

import pytest

from openvisor.errors import LinkError
from openvisor.link import topics

DEVICE = "UV" + "ab" * 16
OTHER = "UV" + "cd" * 16


def test_topic_round_trip() -> None:
    parsed = topics.parse("ov", topics.up_topic("ov", DEVICE, "http.req"))
    assert parsed == topics.ParsedTopic(DEVICE, "up", "http.req")
    assert topics.parse("ov", topics.presence_topic("ov", DEVICE)).direction == "presence"
    assert topics.parse("ov", topics.down_topic("ov", DEVICE, "time")).direction == "down"


@pytest.mark.parametrize(
    "topic", ["ov/d/x", "other/d/UV/up/log", "ov/x/UV/up/log", "ov/d/UV/side/k"]
)
def test_parse_rejects_foreign_topics(topic: str) -> None:
    with pytest.raises(LinkError):
        topics.parse("ov", topic)


@pytest.mark.parametrize(
    "value", ["UV" + "0" * 31, "uv" + "0" * 32, "UV" + "G" * 32, "UV" + "A" * 32]
)
def test_device_id_format(value: str) -> None:
    with pytest.raises(LinkError, match="invalid"):
        topics.check_device_id(value)
    assert topics.check_device_id(DEVICE) == DEVICE


def test_device_publish_rule() -> None:
    assert topics.device_may_publish("ov", DEVICE, f"ov/d/{DEVICE}/up/log")
    assert topics.device_may_publish("ov", DEVICE, f"ov/d/{DEVICE}/presence")
    assert not topics.device_may_publish("ov", DEVICE, f"ov/d/{OTHER}/up/log")
    assert not topics.device_may_publish("ov", DEVICE, f"ov/d/{DEVICE}/down/time")
    assert not topics.device_may_publish("ov", DEVICE, "ov/other")


def test_device_subscribe_rule() -> None:
    assert topics.device_may_subscribe("ov", DEVICE, f"ov/d/{DEVICE}/down/#")
    assert topics.device_may_subscribe("ov", DEVICE, f"ov/d/{DEVICE}/down/time")
    assert not topics.device_may_subscribe("ov", DEVICE, "ov/d/+/down/#")
    assert not topics.device_may_subscribe("ov", DEVICE, f"ov/d/{OTHER}/down/#")
    assert not topics.device_may_subscribe("ov", DEVICE, f"ov/d/{DEVICE}/up/#")
    assert not topics.device_may_subscribe("ov", DEVICE, "#")


def test_presence_payload() -> None:
    assert topics.decode_presence(topics.encode_presence(True, 5)) is True
    assert topics.decode_presence(topics.encode_presence(False, 5)) is False
    assert topics.decode_presence(b"") is False
    with pytest.raises(LinkError):
        topics.decode_presence(b"\xa1\x61x\x01")


def test_mosquitto_acl_lines() -> None:
    acl = topics.mosquitto_acl("ov", "svc").splitlines()
    assert "user svc" in acl
    assert "topic readwrite ov/#" in acl
    assert "pattern write ov/d/%u/up/#" in acl
    assert "pattern write ov/d/%u/presence" in acl
    assert "pattern read ov/d/%u/down/#" in acl
