"""The device link between a device and the cloud.

`DeviceLink` is the device's side, `ServiceLink` the cloud's. Both have an
in-memory implementation (`openvisor.link.memory`) and an MQTT one
(`openvisor.link.mqtt`); `openvisor.link.broker` runs an embedded broker.
Topic layout and encoding: ``docs/protocol.md``.
"""

from openvisor.link.base import DeviceLink, ServiceLink
from openvisor.link.messages import Message

__all__ = ["DeviceLink", "Message", "ServiceLink"]
