"""Wi-Fi settings: mvSetWifiConfig and mvGetWifiConfig.

Settings live in the device state directory. The password is stored for the
emulated modem but never returned to the app: ``mvGetWifiConfig`` reports only
the SSID and whether a password is set.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from openvisor import atomicfile
from openvisor.kernel.abi import MvStatus, MvWifiConfigMode, StatusError
from openvisor.kernel.gateway import syscall
from openvisor.kernel.structs import WIFI_CONFIG, WIFI_CONFIG_OUT

if TYPE_CHECKING:
    from openvisor.kernel.kernel import Kernel

log = logging.getLogger(__name__)

MAX_SSID_LENGTH = 32
MAX_PASSWORD_LENGTH = 64
STATE_FILE = "wifi.json"


class WifiSettings:
    """The stored SSID and password (None when cleared), persisted on every change."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.ssid: bytes | None = None
        self.password: bytes = b""
        self.listeners: list[Callable[[WifiSettings], None]] = []
        """Called after each change, so the network side can bounce the link."""
        if kernel.state_dir is not None:
            saved = atomicfile.read_json(kernel.state_dir / STATE_FILE, default=None)
            if saved:
                self.ssid = bytes.fromhex(saved["ssid"])
                self.password = bytes.fromhex(saved["password"])

    def store(self, ssid: bytes | None, password: bytes) -> None:
        """Replace the settings (``ssid`` None clears them) and persist them."""
        self.ssid, self.password = ssid, password
        if self.kernel.state_dir is not None:
            value = None if ssid is None else {"ssid": ssid.hex(), "password": password.hex()}
            atomicfile.write_json(self.kernel.state_dir / STATE_FILE, value)
        for listener in list(self.listeners):
            listener(self)


def _check_version(version: int) -> None:
    if version != 1:
        raise StatusError(MvStatus.UNSUPPORTEDSTRUCTUREVERSION, f"version {version}")


@syscall("mvSetWifiConfig")
def set_wifi_config(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Apply (APPLYNOW) or clear (CLEARNOW) the Wi-Fi settings in ``*r0``."""
    memory = kernel.memory
    memory.check_read_struct(r0, WIFI_CONFIG)
    params = memory.read_struct(r0, WIFI_CONFIG)
    _check_version(params["version"])
    mode = params["v1.config_mode"]
    settings = kernel.family_state(WifiSettings)
    if mode == MvWifiConfigMode.CLEARNOW:
        settings.store(None, b"")
        log.info("Clear wifi settings (device=%s)", kernel.device_id)
        return MvStatus.OKAY
    if mode != MvWifiConfigMode.APPLYNOW:
        raise StatusError(MvStatus.PARAMETERFAULT, f"unknown wifi config mode {mode}")

    ssid_ptr, ssid_len = params["v1.wifi_ssid.data"], params["v1.wifi_ssid.length"]
    password_ptr, password_len = params["v1.wifi_password.data"], params["v1.wifi_password.length"]
    memory.check_read(ssid_ptr, ssid_len)
    memory.check_read(password_ptr, password_len)
    if ssid_len > MAX_SSID_LENGTH or password_len > MAX_PASSWORD_LENGTH:
        raise StatusError(MvStatus.INPUTTOOLONG, f"ssid {ssid_len} B, password {password_len} B")
    settings.store(memory.read(ssid_ptr, ssid_len), memory.read(password_ptr, password_len))
    log.info("Apply wifi settings (device=%s, ssid_length=%d)", kernel.device_id, ssid_len)
    return MvStatus.OKAY


@syscall("mvGetWifiConfig")
def get_wifi_config(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Write the stored SSID and whether a password is set, through the pointers in ``*r0``."""
    memory = kernel.memory
    memory.check_read_struct(r0, WIFI_CONFIG_OUT)
    params = memory.read_struct(r0, WIFI_CONFIG_OUT)
    _check_version(params["version"])
    data, size = params["v1.ssid.data"], params["v1.ssid.size"]
    length_ptr, encryption_ptr = params["v1.ssid.length"], params["v1.has_encryption"]
    memory.check_write(data, size)
    memory.check_write(length_ptr, 4, align=4)
    memory.check_write(encryption_ptr, 1)

    settings = kernel.family_state(WifiSettings)
    ssid = settings.ssid or b""
    if len(ssid) > size:
        raise StatusError(MvStatus.INVALIDBUFFERSIZE, f"SSID is {len(ssid)} B, buffer {size} B")
    memory.write(data, ssid)
    memory.write_u32(length_ptr, len(ssid))
    memory.write_u8(encryption_ptr, 1 if settings.ssid is not None and settings.password else 0)
    return MvStatus.OKAY
