"""Time, clock, device-id and peripheral-access calls made from compiled firmware."""

from __future__ import annotations

import struct
import time
from typing import Any

import pytest

from openvisor.kernel.abi import MvStatus

BAD_OUTPUTS = {
    "null": 0,
    "secure": 0x3000_0000,
    "unmapped": 0x6000_0000,
    "flash": 0x0800_0100,
    "straddle": 0x2008_0000 - 4,
    "misaligned": None,  # filled per test: an odd arena address
}
RCC_APB3ENR = 0x4602_0CA8
RCC_PLL1CFGR = 0x4602_0C28


def u64(harness: Any, address: int) -> int:
    return struct.unpack("<Q", harness.read(address, 8))[0]


def test_microseconds_count_virtual_time(harness: Any) -> None:
    out = harness.buffer(0, 8)
    assert harness.call("mvGetMicroseconds", out) == MvStatus.OKAY
    first = u64(harness, out)
    harness.device.run_for(0.01)
    assert harness.call("mvGetMicroseconds", out) == MvStatus.OKAY
    second = u64(harness, out)
    assert first > 0
    assert 10_000 <= second - first < 50_000
    assert harness.canaries_intact(out, 8)


@pytest.mark.parametrize("kind", sorted(BAD_OUTPUTS))
def test_microseconds_bad_pointer(harness: Any, kind: str) -> None:
    out = harness.buffer(64, 16)
    pointer = BAD_OUTPUTS[kind] if kind != "misaligned" else out + 1
    assert harness.call("mvGetMicroseconds", pointer) == MvStatus.PARAMETERFAULT
    assert harness.read(out, 16) == bytes(16)
    assert harness.canaries_intact(out, 16)


def test_wall_time_from_host_clock(harness: Any) -> None:
    out = harness.buffer(0, 8)
    assert harness.call("mvGetWallTime", out) == MvStatus.OKAY
    assert abs(u64(harness, out) / 1e6 - time.time()) < 30


def test_wall_time_not_set_until_sync(make_harness: Any) -> None:
    harness = make_harness(wall_time_from_host=False)
    out = harness.buffer(0, 8)
    assert harness.call("mvGetWallTime", out) == MvStatus.TIMENOTSET
    assert harness.read(out, 8) == bytes(8)
    harness.device.kernel.sync_wall_time(1_700_000_000_000_000)
    assert harness.call("mvGetWallTime", out) == MvStatus.OKAY
    assert 0 <= u64(harness, out) - 1_700_000_000_000_000 < 1_000_000


@pytest.mark.parametrize("call", ["mvGetSysClk", "mvGetHClk", "mvGetPClk1", "mvGetPClk2"])
def test_clocks_report_160_mhz(harness: Any, call: str) -> None:
    out = harness.buffer(0, 4)
    assert harness.call(call, out) == MvStatus.OKAY
    assert harness.read_u32(out) == 160_000_000
    assert harness.call(call, 0x0800_0000) == MvStatus.PARAMETERFAULT


def test_device_id(harness: Any) -> None:
    out = harness.buffer(0, 34)
    assert harness.call("mvGetDeviceId", out, 34) == MvStatus.OKAY
    device_id = harness.read(out, 34).decode()
    assert device_id == harness.device.device_id
    assert device_id.startswith("UV") and len(device_id) == 34
    assert harness.canaries_intact(out, 34)


@pytest.mark.parametrize("length", [0, 33, 35, 64])
def test_device_id_needs_exact_length(harness: Any, length: int) -> None:
    out = harness.buffer(0, 64)
    assert harness.call("mvGetDeviceId", out, length) == MvStatus.INVALIDBUFFERSIZE
    assert harness.read(out, 64) == bytes(64)


def test_noop_and_reserved_entry(harness: Any) -> None:
    assert harness.call("mvNoOp") == MvStatus.OKAY
    assert harness.call("mvTemporaryStructTest", 1, 2, 3, 4) == MvStatus.UNAVAILABLE


def test_peek_poke_rcc(harness: Any) -> None:
    out = harness.buffer(0, 4)
    assert harness.call("mvPeriphPeek32", RCC_APB3ENR, out) == MvStatus.OKAY
    before = harness.read_u32(out)
    # The SDK header's example: clear bit 1, set bit 0, flip bit 28.
    assert harness.call("mvPeriphPoke32", RCC_APB3ENR, 0x3, 0x1000_0001) == MvStatus.OKAY
    assert harness.call("mvPeriphPeek32", RCC_APB3ENR, out) == MvStatus.OKAY
    expected = ((before & ~0x3) ^ 0x1000_0001) & 0xFFFF_FFFF
    assert harness.read_u32(out) == expected


def test_peek_secure_alias(harness: Any) -> None:
    out = harness.buffer(0, 8)
    assert harness.call("mvPeriphPeek32", RCC_APB3ENR, out) == MvStatus.OKAY
    assert harness.call("mvPeriphPeek32", RCC_APB3ENR + 0x1000_0000, out + 4) == MvStatus.OKAY
    assert harness.read(out, 4) == harness.read(out + 4, 4)


def test_poke_leaves_pll1_alone(harness: Any) -> None:
    out = harness.buffer(0, 4)
    assert harness.call("mvPeriphPeek32", RCC_PLL1CFGR, out) == MvStatus.OKAY
    before = harness.read_u32(out)
    assert harness.call("mvPeriphPoke32", RCC_PLL1CFGR, 0xFFFF_FFFF, 0) == MvStatus.OKAY
    assert harness.call("mvPeriphPeek32", RCC_PLL1CFGR, out) == MvStatus.OKAY
    assert harness.read_u32(out) == before


@pytest.mark.parametrize(
    "register",
    [0x4602_0CA9, 0x4202_0000, 0x4000_4400, 0x3000_0000, 0xE000_ED08, 0x4602_0C04],
)
def test_peek_poke_outside_allow_list(harness: Any, register: int) -> None:
    out = harness.buffer(0, 4, fill=b"\x77")
    assert harness.call("mvPeriphPeek32", register, out) == MvStatus.PERIPHERALACCESSFAULT
    assert harness.call("mvPeriphPoke32", register, 1, 1) == MvStatus.PERIPHERALACCESSFAULT
    assert harness.read(out, 4) == b"\x77" * 4


def test_peek_bad_output(harness: Any) -> None:
    assert harness.call("mvPeriphPeek32", RCC_APB3ENR, 0x0800_0000) == MvStatus.PARAMETERFAULT
