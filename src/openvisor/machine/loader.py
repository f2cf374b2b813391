"""Load application images: ELF files (via pyelftools) and raw flash images."""

from __future__ import annotations

import bisect
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from openvisor.errors import ImageError
from openvisor.machine.memory_map import FLASH_BASE, FLASH_SIZE, SRAM_BASE, SRAM_SIZE

EM_ARM = "EM_ARM"


@dataclass
class Segment:
    """One loadable piece of an image at its load (physical) address."""

    address: int
    data: bytes


@dataclass
class SymbolTable:
    """Function and object symbols of an ELF image, for lookup and symbolization."""

    by_name: dict[str, int] = field(default_factory=dict)
    _starts: list[int] = field(default_factory=list)
    _entries: list[tuple[int, int, str]] = field(default_factory=list)

    def add(self, name: str, address: int, size: int) -> None:
        """Record one symbol (Thumb bit removed from function addresses)."""
        self.by_name[name] = address
        self._entries.append((address, size, name))

    def finish(self) -> None:
        """Sort the entries; call once after the last `add`."""
        self._entries.sort()
        self._starts = [entry[0] for entry in self._entries]

    def symbolize(self, address: int) -> str | None:
        """Return "name+0xoffset" for an address inside a known symbol, else None."""
        index = bisect.bisect_right(self._starts, address) - 1
        while index >= 0:
            start, size, name = self._entries[index]
            if start <= address < start + max(size, 1):
                offset = address - start
                return f"{name}+{offset:#x}" if offset else name
            if address - start > 0x10000:
                break
            index -= 1
        return None


@dataclass
class LoadedImage:
    """A parsed image: segments to place in memory, entry point and symbols.

    ``Machine.install_image`` keeps the results of its flash scans in
    ``scans``, so later installs of the same object skip them. Treat an
    installed image's segments as read-only: the stored results do not
    follow changes to them.
    """

    segments: list[Segment]
    entry: int | None
    symbols: SymbolTable
    scans: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """Results of scans over flash as this image leaves it, by scan name."""


def _check_placement(address: int, size: int, source: str) -> None:
    in_flash = FLASH_BASE <= address and address + size <= FLASH_BASE + FLASH_SIZE
    in_sram = SRAM_BASE <= address and address + size <= SRAM_BASE + SRAM_SIZE
    if not (in_flash or in_sram):
        raise ImageError(
            f"{source}: segment at {address:#010x} (+{size:#x} bytes) lies outside application "
            f"flash {FLASH_BASE:#010x}+{FLASH_SIZE:#x} and SRAM {SRAM_BASE:#010x}+{SRAM_SIZE:#x}; "
            "link the application with the SDK linker script"
        )


def parse_elf(data: bytes, source: str = "ELF image") -> LoadedImage:
    """Parse an Arm ELF executable into load segments and symbols."""
    try:
        elf = ELFFile(io.BytesIO(data))
        if elf["e_machine"] != EM_ARM or elf.elfclass != 32:
            raise ImageError(
                f"{source}: machine {elf['e_machine']}, class {elf.elfclass} is not a 32-bit Arm "
                "ELF; build it with arm-none-eabi-gcc -mcpu=cortex-m33"
            )
        segments = []
        for segment in elf.iter_segments():
            if segment["p_type"] != "PT_LOAD" or segment["p_filesz"] == 0:
                continue
            address = segment["p_paddr"]
            payload = segment.data()[: segment["p_filesz"]]
            _check_placement(address, len(payload), source)
            segments.append(Segment(address, payload))
        symbols = SymbolTable()
        for section in elf.iter_sections():
            if not isinstance(section, SymbolTableSection):
                continue
            for symbol in section.iter_symbols():
                kind = symbol["st_info"]["type"]
                if kind not in ("STT_FUNC", "STT_OBJECT") or not symbol.name:
                    continue
                address = symbol["st_value"] & ~1 if kind == "STT_FUNC" else symbol["st_value"]
                symbols.add(symbol.name, address, symbol["st_size"])
        symbols.finish()
        return LoadedImage(segments=segments, entry=elf["e_entry"], symbols=symbols)
    except ELFError as exc:
        raise ImageError(f"{source}: not a valid ELF file ({exc}); pass a linked .elf") from exc


def load_elf_file(path: str | Path) -> LoadedImage:
    """Read and parse an ELF file."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read ELF file {path}: {exc.strerror}") from exc
    return parse_elf(data, source=str(path))


def raw_image(data: bytes) -> LoadedImage:
    """Wrap a raw flash image that starts at 0x0800_0000 with its vector table."""
    if len(data) < 8:
        raise ImageError(
            f"raw image of {len(data)} bytes is too short: it must start with a vector table"
        )
    if len(data) > FLASH_SIZE:
        raise ImageError(
            f"raw image of {len(data)} bytes exceeds the {FLASH_SIZE}-byte application flash"
        )
    return LoadedImage(
        segments=[Segment(FLASH_BASE, bytes(data))], entry=None, symbols=SymbolTable()
    )
