"""Time, clocks and device identity: mvGetMicroseconds, mvGetWallTime, mvGet*Clk,
mvGetDeviceId, mvNoOp and the reserved mvTemporaryStructTest."""

from __future__ import annotations

from typing import TYPE_CHECKING

from openvisor.kernel.abi import MvStatus, StatusError
from openvisor.kernel.gateway import syscall

if TYPE_CHECKING:
    from openvisor.kernel.kernel import Kernel

DEVICE_ID_LENGTH = 34
"""``UV`` + 32 hex digits, not NUL-terminated."""


@syscall("mvGetMicroseconds")
def get_microseconds(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Write µs since the microvisor started (not since the app started) to ``*r0``."""
    kernel.memory.write_u64(r0, kernel.micros())
    return MvStatus.OKAY


@syscall("mvGetWallTime")
def get_wall_time(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Write µs since the Unix epoch to ``*r0``; TIMENOTSET before the first sync."""
    kernel.memory.check_write(r0, 8, align=8)
    now = kernel.wall_time_us()
    if now is None:
        return MvStatus.TIMENOTSET
    kernel.memory.write_u64(r0, now)
    return MvStatus.OKAY


def _write_clock(kernel: Kernel, address: int, hz: int) -> int:
    kernel.memory.write_u32(address, hz)
    return MvStatus.OKAY


@syscall("mvGetSysClk")
def get_sysclk(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Write the CPU clock frequency in Hz."""
    return _write_clock(kernel, r0, kernel.settings.clocks.sysclk_hz)


@syscall("mvGetHClk")
def get_hclk(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Write the AHB clock frequency in Hz."""
    return _write_clock(kernel, r0, kernel.settings.clocks.hclk_hz)


@syscall("mvGetPClk1")
def get_pclk1(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Write the APB1 clock frequency in Hz."""
    return _write_clock(kernel, r0, kernel.settings.clocks.pclk1_hz)


@syscall("mvGetPClk2")
def get_pclk2(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Write the APB2 clock frequency in Hz."""
    return _write_clock(kernel, r0, kernel.settings.clocks.pclk2_hz)


@syscall("mvGetDeviceId")
def get_device_id(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Copy the 34-byte device SID to ``r0``; ``r1`` must be exactly 34."""
    if r1 != DEVICE_ID_LENGTH:
        raise StatusError(MvStatus.INVALIDBUFFERSIZE, f"length {r1}, expected 34")
    kernel.memory.write(r0, kernel.device_id.encode("ascii")[:DEVICE_ID_LENGTH])
    return MvStatus.OKAY


@syscall("mvNoOp")
def no_op(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Do nothing and succeed."""
    return MvStatus.OKAY


@syscall("mvTemporaryStructTest")
def temporary_struct_test(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Reserved entry with no public declaration: always UNAVAILABLE."""
    return MvStatus.UNAVAILABLE
