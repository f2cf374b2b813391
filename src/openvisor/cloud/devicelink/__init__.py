"""The cloud's side of the device link: presence, logs, reports, config and
secret fetches, HTTP and MQTT channel proxies, and messages to devices.

`DeviceLinkConsumer` serves a `openvisor.link.ServiceLink` (in-memory or
MQTT) from the cloud database; `MqttBridge` connects app MQTT channels to
the brokers apps name.
"""

from openvisor.cloud.devicelink.consumer import DeviceLinkConsumer, echo_endpoint
from openvisor.cloud.devicelink.mqtt_bridge import MqttBridge, MqttBridgePolicy

__all__ = ["DeviceLinkConsumer", "MqttBridge", "MqttBridgePolicy", "echo_endpoint"]
