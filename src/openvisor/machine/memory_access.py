"""Host access to app flash, SRAM and the system bus, bypassing the app's permissions."""

from __future__ import annotations

import ctypes
import struct
from typing import TYPE_CHECKING, Any

from openvisor.errors import MemoryAccessError
from openvisor.machine import memory_map as mm

if TYPE_CHECKING:
    from openvisor.machine.loader import LoadedImage
    from openvisor.machine.scs import SystemControlSpace
    from openvisor.peripherals.board import Peripherals


class MemoryAccess:
    """Raw memory and bus reads and writes for `Machine`."""

    if TYPE_CHECKING:
        image: LoadedImage | None
        peripherals: Peripherals
        scs: SystemControlSpace
        _uc: Any
        _flash: ctypes.Array[ctypes.c_char]
        _sram: ctypes.Array[ctypes.c_char]
        _gateway: ctypes.Array[ctypes.c_char]
        _flash_end: int
        _flash_scans: dict[str, Any]

        def exceptions_changed(self) -> None: ...

    def _buffer_for(self, address: int, size: int) -> tuple[ctypes.Array[ctypes.c_char], int]:
        for base, length, buffer in (
            (mm.SRAM_BASE, mm.SRAM_SIZE, self._sram),
            (mm.FLASH_BASE, mm.FLASH_SIZE, self._flash),
            (mm.GATEWAY_BASE, mm.GATEWAY_PAGE_SIZE, self._gateway),
        ):
            if base <= address and address + size <= base + length:
                return buffer, address - base
        raise MemoryAccessError(
            f"raw access of {size} bytes at {address:#010x} ({mm.describe_address(address)}) "
            "is outside application flash and SRAM; use bus_read/bus_write for peripherals",
            address=address,
            size=size,
        )

    def mem_read(self, address: int, size: int) -> bytes:
        """Read app flash or SRAM, bypassing the app's permissions."""
        buffer, offset = self._buffer_for(address, size)
        return ctypes.string_at(ctypes.addressof(buffer) + offset, size)

    def mem_write(self, address: int, data: bytes) -> None:
        """Write app flash or SRAM, bypassing the app's permissions."""
        buffer, offset = self._buffer_for(address, len(data))
        ctypes.memmove(ctypes.addressof(buffer) + offset, data, len(data))
        if buffer is self._flash:
            self._flash_end = max(self._flash_end, address + len(data))
            self._flash_scans = {}
        if buffer is self._sram and self.image is not None:
            # Code may run from SRAM: drop translations of the written range.
            self._uc.ctl_remove_cache(address, address + len(data))

    def read_word(self, address: int) -> int | None:
        """Return the 32-bit word at an app address, or None outside flash and SRAM."""
        try:
            buffer, offset = self._buffer_for(address, 4)
        except MemoryAccessError:
            return None
        value: int = struct.unpack_from("<I", buffer, offset)[0]
        return value

    def write_stack(self, address: int, words: list[int]) -> bool:
        """Write an exception frame into SRAM; return False if it leaves SRAM."""
        size = 4 * len(words)
        if not (mm.SRAM_BASE <= address and address + size <= mm.SRAM_BASE + mm.SRAM_SIZE):
            return False
        struct.pack_into(
            f"<{len(words)}I", self._sram, address - mm.SRAM_BASE, *[w & 0xFFFFFFFF for w in words]
        )
        return True

    def read_stack(self, address: int, count: int) -> list[int] | None:
        """Read an exception frame from SRAM; return None if it leaves SRAM."""
        size = 4 * count
        if not (mm.SRAM_BASE <= address and address + size <= mm.SRAM_BASE + mm.SRAM_SIZE):
            return None
        return list(struct.unpack_from(f"<{count}I", self._sram, address - mm.SRAM_BASE))

    def bus_read(self, address: int, size: int = 4) -> int:
        """Read through the system bus: memory, peripherals or system registers."""
        if mm.PERIPHERAL_BASE <= address < mm.PERIPHERAL_BASE + mm.PERIPHERAL_SIZE:
            return self.peripherals.bus.read(address, size)
        if mm.PPB_BASE <= address < mm.PPB_BASE + mm.PPB_SIZE:
            return self.scs.read(address - mm.PPB_BASE, size)
        return int.from_bytes(self.mem_read(address, size), "little")

    def bus_write(self, address: int, size: int, value: int) -> None:
        """Write through the system bus: memory, peripherals or system registers."""
        if mm.PERIPHERAL_BASE <= address < mm.PERIPHERAL_BASE + mm.PERIPHERAL_SIZE:
            self.peripherals.bus.write(address, size, value)
        elif mm.PPB_BASE <= address < mm.PPB_BASE + mm.PPB_SIZE:
            self.scs.write(address - mm.PPB_BASE, size, value)
        else:
            self.mem_write(address, value.to_bytes(size, "little"))
        self.exceptions_changed()
