"""External flash and Wi-Fi settings, from compiled firmware, persisted in the state dir."""

from __future__ import annotations

import struct
from typing import Any

from openvisor.kernel.abi import MvStatus

FLASH_SIZE = 8 << 20


def open_flash(harness: Any) -> int:
    out = harness.buffer(0, 4)
    assert harness.call("mvExternalFlashOpen", out) == MvStatus.OKAY
    handle = harness.read_u32(out)
    assert handle != 0
    return handle


def test_info_reports_8_mib(harness: Any) -> None:
    handle = open_flash(harness)
    info = harness.buffer(64, 16)
    harness.write_u32(info, 1)
    assert harness.call("mvExternalFlashGetInfo", handle, info) == MvStatus.OKAY
    version, chip_id, size, num_handles = struct.unpack("<IIII", harness.read(info, 16))
    assert (version, size, num_handles) == (1, FLASH_SIZE, 32)
    assert chip_id != 0
    assert harness.canaries_intact(info, 16)
    harness.write_u32(info, 2)
    assert harness.call("mvExternalFlashGetInfo", handle, info) == (
        MvStatus.UNSUPPORTEDSTRUCTUREVERSION
    )
    assert harness.call("mvExternalFlashGetInfo", handle, 0x0800_0000) == MvStatus.PARAMETERFAULT
    assert harness.call("mvExternalFlashGetInfo", 0x1234, info) == MvStatus.INVALIDHANDLE


def test_nor_semantics(harness: Any) -> None:
    handle = open_flash(harness)
    data = harness.buffer(128, 8)
    out = harness.buffer(256, 8)
    assert harness.call("mvExternalFlashReadBlocking", handle, 0x1000, 8, out) == 0
    assert harness.read(out, 8) == b"\xff" * 8
    harness.write(data, bytes.fromhex("f0f0f0f00f0f0f0f"))
    assert harness.call("mvExternalFlashWriteBlocking", handle, 0x1000, 8, data) == 0
    harness.write(data, bytes.fromhex("ffff00ffffff00ff"))
    assert harness.call("mvExternalFlashWriteBlocking", handle, 0x1000, 8, data) == 0
    assert harness.call("mvExternalFlashReadBlocking", handle, 0x1000, 8, out) == 0
    assert harness.read(out, 8) == bytes.fromhex("f0f000f00f0f000f")
    assert harness.canaries_intact(out, 8)
    assert harness.call("mvExternalFlashEraseBlocking", handle, 0x1000, 0x1000) == 0
    assert harness.call("mvExternalFlashReadBlocking", handle, 0x1000, 8, out) == 0
    assert harness.read(out, 8) == b"\xff" * 8


def test_flash_errors(harness: Any) -> None:
    handle = open_flash(harness)
    out = harness.buffer(256, 16, fill=b"\x11")
    assert harness.call("mvExternalFlashReadBlocking", handle, FLASH_SIZE - 8, 16, out) == (
        MvStatus.ADDRESSOUTOFRANGE
    )
    assert harness.call("mvExternalFlashWriteBlocking", handle, FLASH_SIZE, 1, out) == (
        MvStatus.ADDRESSOUTOFRANGE
    )
    assert harness.call("mvExternalFlashEraseBlocking", handle, 0x800, 0x1000) == (
        MvStatus.INVALIDBUFFERALIGNMENT
    )
    assert harness.call("mvExternalFlashEraseBlocking", handle, 0, 100) == (
        MvStatus.INVALIDBUFFERALIGNMENT
    )
    assert harness.call("mvExternalFlashEraseBlocking", handle, FLASH_SIZE, 0x1000) == (
        MvStatus.ADDRESSOUTOFRANGE
    )
    assert harness.call("mvExternalFlashReadBlocking", handle, 0, 16, 0x0800_0000) == (
        MvStatus.PARAMETERFAULT
    )
    assert harness.call("mvExternalFlashWriteBlocking", handle, 0, 16, 0x6000_0000) == (
        MvStatus.PARAMETERFAULT
    )
    assert harness.call("mvExternalFlashReadBlocking", 0, 0, 16, out) == MvStatus.INVALIDHANDLE
    assert harness.read(out, 16) == b"\x11" * 16


def test_flash_handles_limit_and_close(harness: Any) -> None:
    handles = [open_flash(harness) for _ in range(32)]
    out = harness.buffer(0, 4)
    assert harness.call("mvExternalFlashOpen", out) == MvStatus.TOOMANYCHANNELS
    slot = harness.buffer(64, 4)
    harness.write_u32(slot, handles[0])
    assert harness.call("mvExternalFlashClose", slot) == MvStatus.OKAY
    assert harness.read_u32(slot) == 0
    harness.write_u32(slot, handles[0])
    assert harness.call("mvExternalFlashClose", slot) == MvStatus.INVALIDHANDLE
    assert harness.call("mvExternalFlashOpen", out) == MvStatus.OKAY


def test_flash_contents_persist(make_harness: Any, tmp_path: Any) -> None:
    state_dir = tmp_path / "persist"
    first = make_harness(state_dir)
    handle = open_flash(first)
    data = first.buffer(128, 5)
    first.write(data, b"hello")
    assert first.call("mvExternalFlashWriteBlocking", handle, 0x7F_F000, 5, data) == 0
    assert sorted(p.name for p in (state_dir / "kernel" / "external-flash").iterdir()) == [
        "07ff.bin"
    ]
    second = make_harness(state_dir)
    handle = open_flash(second)
    out = second.buffer(256, 5)
    assert second.call("mvExternalFlashReadBlocking", handle, 0x7F_F000, 5, out) == 0
    assert second.read(out, 5) == b"hello"


def wifi_config(
    harness: Any, *, version: int = 1, mode: int = 0, ssid: bytes, password: bytes
) -> int:
    ssid_ptr = harness.buffer(512, max(len(ssid), 1))
    harness.write(ssid_ptr, ssid)
    password_ptr = harness.buffer(640, max(len(password), 1))
    harness.write(password_ptr, password)
    params = harness.buffer(0, 24)
    harness.write(
        params,
        struct.pack("<IB3xIIII", version, mode, ssid_ptr, len(ssid), password_ptr, len(password)),
    )
    return harness.call("mvSetWifiConfig", params)


def read_wifi(harness: Any, size: int = 32) -> tuple[int, bytes, int]:
    data = harness.buffer(1024, size)
    length = harness.buffer(1152, 4)
    encryption = harness.buffer(1216, 1, fill=b"\x55")
    params = harness.buffer(256, 20)
    harness.write(params, struct.pack("<IIIII", 1, data, size, length, encryption))
    status = harness.call("mvGetWifiConfig", params)
    count = harness.read_u32(length)
    return status, harness.read(data, count), harness.read(encryption, 1)[0]


def test_wifi_round_trip_and_persistence(make_harness: Any, tmp_path: Any) -> None:
    state_dir = tmp_path / "persist"
    harness = make_harness(state_dir)
    assert read_wifi(harness) == (MvStatus.OKAY, b"", 0)
    assert wifi_config(harness, ssid=b"workshop", password=b"secret-pass") == MvStatus.OKAY
    assert read_wifi(harness) == (MvStatus.OKAY, b"workshop", 1)
    again = make_harness(state_dir)
    assert read_wifi(again) == (MvStatus.OKAY, b"workshop", 1)
    assert b"secret-pass" not in again.read(again.arena, 4096)
    assert wifi_config(again, mode=1, ssid=b"", password=b"") == MvStatus.OKAY
    assert read_wifi(again) == (MvStatus.OKAY, b"", 0)


def test_wifi_errors(harness: Any) -> None:
    assert wifi_config(harness, version=2, ssid=b"a", password=b"b") == (
        MvStatus.UNSUPPORTEDSTRUCTUREVERSION
    )
    assert wifi_config(harness, mode=5, ssid=b"a", password=b"b") == MvStatus.PARAMETERFAULT
    assert wifi_config(harness, ssid=b"s" * 33, password=b"") == MvStatus.INPUTTOOLONG
    assert wifi_config(harness, ssid=b"ok", password=b"p" * 65) == MvStatus.INPUTTOOLONG
    assert harness.call("mvSetWifiConfig", 0x6000_0000) == MvStatus.PARAMETERFAULT
    assert wifi_config(harness, ssid=b"a-long-network", password=b"pw") == MvStatus.OKAY
    status, _, _ = read_wifi(harness, size=4)
    assert status == MvStatus.INVALIDBUFFERSIZE
