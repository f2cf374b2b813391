"""The MQTT topic layout of the device link and the access rule that goes with it.

::

    <prefix>/d/<device id>/up/<kind>     device -> cloud, one topic per message kind
    <prefix>/d/<device id>/down/<kind>   cloud -> device
    <prefix>/d/<device id>/presence      retained; the device's MQTT will sets it offline

A device may publish only to its own ``up/#`` and ``presence`` topics and
subscribe only to its own ``down/#``; the service account may use every
topic under the prefix. The broker enforces this: `mosquitto_acl` renders
the rule for Mosquitto and `openvisor.link.broker` applies it in the
embedded broker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cbor2

from openvisor.errors import LinkError

DEFAULT_PREFIX = "ov"
SERVICE_USERNAME = "openvisor-service"
DEVICE_ID_PATTERN = re.compile(r"^UV[0-9a-f]{32}$")


def check_device_id(device_id: str) -> str:
    """Return ``device_id`` if it is ``UV`` and 32 lowercase hex digits, else raise."""
    if not DEVICE_ID_PATTERN.fullmatch(device_id):
        raise LinkError(
            f"device id {device_id!r} is invalid: expected 'UV' followed by 32 lowercase "
            "hex digits, as openvisor.link.identity creates"
        )
    return device_id


def up_topic(prefix: str, device_id: str, kind: str) -> str:
    """Return the topic a device publishes messages of ``kind`` to."""
    return f"{prefix}/d/{device_id}/up/{kind}"


def down_topic(prefix: str, device_id: str, kind: str) -> str:
    """Return the topic the cloud publishes messages of ``kind`` for ``device_id`` to."""
    return f"{prefix}/d/{device_id}/down/{kind}"


def presence_topic(prefix: str, device_id: str) -> str:
    """Return the retained presence topic of ``device_id``."""
    return f"{prefix}/d/{device_id}/presence"


def device_subscription(prefix: str, device_id: str) -> str:
    """Return the filter a device subscribes to."""
    return f"{prefix}/d/{device_id}/down/#"


def service_subscriptions(prefix: str) -> list[str]:
    """Return the filters the service subscribes to."""
    return [f"{prefix}/d/+/up/#", f"{prefix}/d/+/presence"]


@dataclass(frozen=True)
class ParsedTopic:
    """A link topic split into device id, direction and message kind."""

    device_id: str
    direction: str
    kind: str


def parse(prefix: str, topic: str) -> ParsedTopic:
    """Split a link topic; raise `LinkError` for topics outside the layout."""
    parts = topic.split("/")
    if len(parts) == 4 and parts[0] == prefix and parts[1] == "d" and parts[3] == "presence":
        return ParsedTopic(parts[2], "presence", "")
    if len(parts) == 5 and parts[0] == prefix and parts[1] == "d" and parts[3] in ("up", "down"):
        return ParsedTopic(parts[2], parts[3], parts[4])
    raise LinkError(f"topic {topic!r} is not a device-link topic under prefix {prefix!r}")


def encode_presence(online: bool, unix_micros: int) -> bytes:
    """Encode a presence payload: ``{"v": 1, "online": bool, "at": unix µs}``."""
    return cbor2.dumps({"v": 1, "online": online, "at": unix_micros})


def decode_presence(payload: bytes) -> bool:
    """Return the ``online`` flag of a presence payload; an empty payload means offline."""
    if not payload:
        return False
    try:
        value = cbor2.loads(payload)
    except (cbor2.CBORDecodeError, ValueError) as exc:
        raise LinkError(f"presence payload is not valid CBOR ({exc})") from exc
    if not isinstance(value, dict) or not isinstance(value.get("online"), bool):
        raise LinkError(f"presence payload {value!r} has no boolean 'online' field")
    return bool(value["online"])


def device_may_publish(prefix: str, username: str, topic: str) -> bool:
    """Apply the link's publish rule for a device account."""
    return topic == presence_topic(prefix, username) or topic.startswith(
        f"{prefix}/d/{username}/up/"
    )


def device_may_subscribe(prefix: str, username: str, topic_filter: str) -> bool:
    """Apply the link's subscribe rule for a device account (its own ``down`` topics only)."""
    own = f"{prefix}/d/{username}/down/"
    return topic_filter == f"{own}#" or (
        topic_filter.startswith(own) and "+" not in topic_filter and "#" not in topic_filter
    )


def mosquitto_acl(prefix: str = DEFAULT_PREFIX, service_username: str = SERVICE_USERNAME) -> str:
    """Render the Mosquitto ``acl_file`` that enforces the link's topic rule.

    Devices log in with their device id as username, so ``%u`` in a pattern
    is the device id (Mosquitto's ``acl_file`` format, mosquitto.conf(5)).
    """
    return (
        "# openvisor device link: each device may use only its own topics.\n"
        f"user {service_username}\n"
        f"topic readwrite {prefix}/#\n"
        "\n"
        f"pattern write {prefix}/d/%u/up/#\n"
        f"pattern write {prefix}/d/%u/presence\n"
        f"pattern read {prefix}/d/%u/down/#\n"
    )
