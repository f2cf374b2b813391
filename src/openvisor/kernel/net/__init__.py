"""The kernel's network families: network requests, channels, HTTP, config
fetch, MQTT, and delivery of server logs over the device link.

Importing this package registers the handlers with
`openvisor.kernel.gateway`. It is the only part of the kernel that talks to
`openvisor.link`; see `openvisor.kernel.net.state` for the threading rule.
"""

from openvisor.kernel.net import channels, config, http, mqtt, network
from openvisor.kernel.net.state import NetState, attach

__all__ = ["NetState", "attach", "channels", "config", "http", "mqtt", "network"]
