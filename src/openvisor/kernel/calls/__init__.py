"""System-call handlers, one module per API family (network families are in ``kernel.net``).

Importing this package registers every handler with :mod:`openvisor.kernel.gateway`.
"""

from openvisor.kernel.calls import (
    device_info,
    external_flash,
    fast_interrupts,
    notifications,
    peripherals,
    power,
    server_log,
    system,
    testing,
    wifi,
)

__all__ = [
    "device_info",
    "external_flash",
    "fast_interrupts",
    "notifications",
    "peripherals",
    "power",
    "server_log",
    "system",
    "testing",
    "wifi",
]
