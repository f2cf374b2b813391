"""Validated access to application memory for system-call handlers.

The application may pass the kernel only pointers into its own map: flash
0x0800_0000 + 1 MiB (read only) and SRAM 0x2000_0000 + 512 KiB (read and
write). Every check happens before the handler changes anything, so a bad
pointer ends the call with ``MV_STATUS_PARAMETERFAULT`` and no side effect.
Reads and writes go through the machine's raw accessors, which bypass the
application's permissions; that is why nothing here reads or writes without
checking first.
"""

from __future__ import annotations

import struct
from typing import Protocol

from openvisor.kernel.abi import MvStatus, StatusError
from openvisor.kernel.structs import Layout

APP_FLASH_BASE = 0x0800_0000
APP_FLASH_SIZE = 1 << 20
APP_SRAM_BASE = 0x2000_0000
APP_SRAM_SIZE = 512 << 10

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")

# Largest alignment the kernel demands of a typed pointer. A uint64_t output is
# accepted at any word boundary, since the Cortex-M33 itself allows that access.
_MAX_ALIGNMENT = 4


class MemoryPort(Protocol):
    """The machine's raw memory accessors that the kernel reads and writes through."""

    def mem_read(self, address: int, size: int) -> bytes | bytearray: ...

    def mem_write(self, address: int, data: bytes) -> None: ...


def _within(address: int, size: int, base: int, length: int) -> bool:
    return base <= address and address + size <= base + length


def is_readable(address: int, size: int) -> bool:
    """Tell whether ``size`` bytes at ``address`` lie wholly in app flash or SRAM."""
    if size == 0:
        return True
    return _within(address, size, APP_SRAM_BASE, APP_SRAM_SIZE) or _within(
        address, size, APP_FLASH_BASE, APP_FLASH_SIZE
    )


def is_writable(address: int, size: int) -> bool:
    """Tell whether ``size`` bytes at ``address`` lie wholly in app SRAM."""
    if size == 0:
        return True
    return _within(address, size, APP_SRAM_BASE, APP_SRAM_SIZE)


def is_executable(address: int) -> bool:
    """Tell whether a code address (Thumb bit ignored) lies in app flash or SRAM."""
    return is_readable(address & ~1, 2)


class AppMemory:
    """Application memory as a call handler sees it: checked, little endian.

    Example::

        mem.check_write(out_ptr, 8)          # before any side effect
        mem.write_u64(out_ptr, kernel.micros())
    """

    def __init__(self, port: MemoryPort) -> None:
        self.port = port

    # Checks. Each raises StatusError(PARAMETERFAULT) on failure.

    def check_read(self, address: int, size: int, *, align: int = 1) -> None:
        """Reject ``size`` bytes at ``address`` unless the app may read them."""
        if not is_readable(address, size) or address % min(align, _MAX_ALIGNMENT):
            raise StatusError(
                MvStatus.PARAMETERFAULT, f"cannot read {size} bytes at {address:#010x}"
            )

    def check_write(self, address: int, size: int, *, align: int = 1) -> None:
        """Reject ``size`` bytes at ``address`` unless the app may write them."""
        if not is_writable(address, size) or address % min(align, _MAX_ALIGNMENT):
            raise StatusError(
                MvStatus.PARAMETERFAULT, f"cannot write {size} bytes at {address:#010x}"
            )

    def check_read_struct(self, address: int, layout: Layout) -> None:
        """Reject a pointer to an input structure that the app may not read."""
        self.check_read(address, layout.size, align=4)

    def check_write_struct(self, address: int, layout: Layout) -> None:
        """Reject a pointer to an output structure that the app may not write."""
        self.check_write(address, layout.size, align=4)

    # Reads.

    def read(self, address: int, size: int) -> bytes:
        """Read ``size`` bytes the app may read."""
        self.check_read(address, size)
        if size == 0:
            return b""
        return bytes(self.port.mem_read(address, size))

    def read_u32(self, address: int) -> int:
        """Read a little-endian word the app may read."""
        self.check_read(address, 4, align=4)
        value: int = _U32.unpack(bytes(self.port.mem_read(address, 4)))[0]
        return value

    def read_struct(self, address: int, layout: Layout) -> dict[str, int]:
        """Read and decode a structure the app may read."""
        self.check_read_struct(address, layout)
        return layout.unpack(bytes(self.port.mem_read(address, layout.size)))

    # Writes.

    def write(self, address: int, data: bytes) -> None:
        """Write bytes where the app may write."""
        self.check_write(address, len(data))
        if data:
            self.port.mem_write(address, bytes(data))

    def write_u8(self, address: int, value: int) -> None:
        """Write one byte (a one-byte enum or flag)."""
        self.write(address, bytes([value & 0xFF]))

    def write_u32(self, address: int, value: int) -> None:
        """Write a little-endian word at a word-aligned address."""
        self.check_write(address, 4, align=4)
        self.port.mem_write(address, _U32.pack(value & 0xFFFF_FFFF))

    def write_u64(self, address: int, value: int) -> None:
        """Write a little-endian uint64_t at a word-aligned address."""
        self.check_write(address, 8, align=8)
        self.port.mem_write(address, _U64.pack(value & 0xFFFF_FFFF_FFFF_FFFF))

    def write_struct(self, address: int, layout: Layout, values: dict[str, int]) -> None:
        """Encode and write every member of a structure (padding is left as it was)."""
        self.check_write_struct(address, layout)
        for offset, letter, member in layout.fields:
            self.port.mem_write(address + offset, struct.pack("<" + letter, values[member]))
