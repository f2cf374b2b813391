"""External SPI NOR flash: mvExternalFlashOpen/Close/GetInfo/Read/Write/EraseBlocking.

The app gets 8 MiB at addresses 0..size-1 with NOR semantics: erased bytes read
0xFF, a write can only clear bits (the stored byte becomes ``old & new``), and
erasing works on whole 4 KiB sectors. The microvisor's own update staging is
kept elsewhere and is not visible here. Contents persist in the device state
directory, one file per sector that is not fully erased, each written
atomically before the blocking call returns.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from openvisor import atomicfile
from openvisor.kernel.abi import MvStatus, StatusError
from openvisor.kernel.calls.system import require_thread_mode
from openvisor.kernel.gateway import syscall
from openvisor.kernel.handles import HandleKind
from openvisor.kernel.structs import EXTERNAL_FLASH_INFO

if TYPE_CHECKING:
    from openvisor.kernel.kernel import Kernel

log = logging.getLogger(__name__)

FLASH_SIZE = 8 << 20
SECTOR_SIZE = 4096
MAX_HANDLES = 32
CHIP_ID = 0x00EF_4017
"""JEDEC id of a Winbond W25Q64 (8 MiB SPI NOR)."""
STATE_FOLDER = "external-flash"


class FlashHandle:
    """The object behind an open MvExternalFlashHandle."""


class ExternalFlash:
    """The flash contents (sparse, by sector) and their persistence."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self._sectors: dict[int, bytearray] = {}
        self._folder: Path | None = None
        if kernel.state_dir is not None:
            self._folder = kernel.state_dir / STATE_FOLDER
            self._load()

    def read(self, address: int, length: int) -> bytes:
        """Bytes ``address``..``address+length`` (caller checked the range)."""
        out = bytearray()
        while length:
            index, offset = divmod(address, SECTOR_SIZE)
            chunk = min(length, SECTOR_SIZE - offset)
            sector = self._sectors.get(index)
            out += sector[offset : offset + chunk] if sector else b"\xff" * chunk
            address += chunk
            length -= chunk
        return bytes(out)

    def program(self, address: int, data: bytes) -> None:
        """Program ``data`` at ``address``: each stored bit can only go from 1 to 0."""
        position = 0
        changed: set[int] = set()
        while position < len(data):
            index, offset = divmod(address + position, SECTOR_SIZE)
            chunk = min(len(data) - position, SECTOR_SIZE - offset)
            sector = self._sectors.setdefault(index, bytearray(b"\xff" * SECTOR_SIZE))
            old = int.from_bytes(sector[offset : offset + chunk], "little")
            new = int.from_bytes(data[position : position + chunk], "little")
            sector[offset : offset + chunk] = (old & new).to_bytes(chunk, "little")
            changed.add(index)
            position += chunk
        self._persist(changed)

    def erase(self, address: int, length: int) -> None:
        """Erase whole sectors back to 0xFF."""
        first = address // SECTOR_SIZE
        indexes = set(range(first, first + length // SECTOR_SIZE))
        for index in indexes:
            self._sectors.pop(index, None)
        self._persist(indexes)

    def _persist(self, indexes: set[int]) -> None:
        if self._folder is None:
            return
        self._folder.mkdir(parents=True, exist_ok=True)
        for index in sorted(indexes):
            path = self._folder / f"{index:04x}.bin"
            sector = self._sectors.get(index)
            if sector is None or sector.count(0xFF) == SECTOR_SIZE:
                self._sectors.pop(index, None)
                if path.exists():
                    path.unlink()
                    atomicfile.fsync_dir(self._folder)
            else:
                atomicfile.write_bytes(path, bytes(sector))

    def _load(self) -> None:
        assert self._folder is not None
        if not self._folder.is_dir():
            return
        for path in self._folder.glob("*.bin"):
            data = path.read_bytes()
            try:
                index = int(path.stem, 16)
            except ValueError:
                continue
            if len(data) == SECTOR_SIZE and index < FLASH_SIZE // SECTOR_SIZE:
                self._sectors[index] = bytearray(data)
            else:
                log.warning("Ignore damaged external flash sector file (path=%s)", path)


def _state(kernel: Kernel) -> ExternalFlash:
    return kernel.family_state(ExternalFlash)


def _check_range(address: int, length: int) -> None:
    if address + length > FLASH_SIZE:
        raise StatusError(
            MvStatus.ADDRESSOUTOFRANGE, f"{length} bytes at {address:#x} exceed {FLASH_SIZE:#x}"
        )


def _lookup(kernel: Kernel, handle: int) -> None:
    kernel.handles.lookup(HandleKind.EXTERNAL_FLASH, handle, FlashHandle)


@syscall("mvExternalFlashOpen")
def external_flash_open(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Open a flash handle and write it to ``*r0``."""
    require_thread_mode(kernel)
    kernel.memory.check_write(r0, 4, align=4)
    if kernel.handles.count(HandleKind.EXTERNAL_FLASH) >= MAX_HANDLES:
        raise StatusError(MvStatus.TOOMANYCHANNELS, f"{MAX_HANDLES} handles already open")
    kernel.memory.write_u32(r0, kernel.handles.allocate(HandleKind.EXTERNAL_FLASH, FlashHandle()))
    return MvStatus.OKAY


@syscall("mvExternalFlashClose")
def external_flash_close(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Close the handle at ``*r0`` and write 0 there."""
    require_thread_mode(kernel)
    kernel.memory.check_write(r0, 4, align=4)
    kernel.handles.release(HandleKind.EXTERNAL_FLASH, kernel.memory.read_u32(r0))
    kernel.memory.write_u32(r0, 0)
    return MvStatus.OKAY


@syscall("mvExternalFlashGetInfo")
def external_flash_get_info(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Fill ``*r1`` (MvExternalFlashInfo, the caller sets version 1)."""
    require_thread_mode(kernel)
    _lookup(kernel, r0)
    kernel.memory.check_write_struct(r1, EXTERNAL_FLASH_INFO)
    version = kernel.memory.read_u32(r1)
    if version != 1:
        raise StatusError(MvStatus.UNSUPPORTEDSTRUCTUREVERSION, f"version {version}")
    kernel.memory.write_struct(
        r1,
        EXTERNAL_FLASH_INFO,
        {"version": 1, "v1.chip_id": CHIP_ID, "v1.size": FLASH_SIZE, "v1.num_handles": MAX_HANDLES},
    )
    return MvStatus.OKAY


@syscall("mvExternalFlashReadBlocking")
def external_flash_read(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Copy ``r2`` bytes of flash at ``r1`` into the app buffer ``r3``."""
    require_thread_mode(kernel)
    _lookup(kernel, r0)
    kernel.memory.check_write(r3, r2)
    _check_range(r1, r2)
    kernel.memory.write(r3, _state(kernel).read(r1, r2))
    return MvStatus.OKAY


@syscall("mvExternalFlashWriteBlocking")
def external_flash_write(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Program ``r2`` bytes from the app buffer ``r3`` at flash address ``r1``."""
    require_thread_mode(kernel)
    _lookup(kernel, r0)
    kernel.memory.check_read(r3, r2)
    _check_range(r1, r2)
    _state(kernel).program(r1, kernel.memory.read(r3, r2))
    return MvStatus.OKAY


@syscall("mvExternalFlashEraseBlocking")
def external_flash_erase(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Erase ``r2`` bytes of whole 4 KiB sectors from flash address ``r1``."""
    require_thread_mode(kernel)
    _lookup(kernel, r0)
    if r1 % SECTOR_SIZE or r2 % SECTOR_SIZE:
        raise StatusError(MvStatus.INVALIDBUFFERALIGNMENT, f"address {r1:#x}, length {r2:#x}")
    _check_range(r1, r2)
    _state(kernel).erase(r1, r2)
    return MvStatus.OKAY
