"""Virtual devices: one device (machine + kernel + OTA + link + state dir) and a fleet runner."""

from openvisor.device.device import Device, DeviceConfig, DeviceState
from openvisor.device.fleet import Fleet
from openvisor.device.image import AppImage

__all__ = ["AppImage", "Device", "DeviceConfig", "DeviceState", "Fleet"]
