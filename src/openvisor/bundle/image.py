"""Flash images built from ELF files, without objcopy.

The image contains every section that is allocated and has file contents
(``SHF_ALLOC`` set, type not ``SHT_NOBITS``, size above 0), each at its load
address (LMA), gaps filled with 0xFF, from the start of application flash
up to the last loaded byte. That is what
``objcopy -O binary --gap-fill=0xff`` gives for the same file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile

from openvisor.errors import ImageError

log = logging.getLogger(__name__)

APP_FLASH_BASE = 0x0800_0000
APP_FLASH_SIZE = 0x0010_0000
GAP_FILL = 0xFF


@dataclass(frozen=True)
class LoadedSection:
    """One ELF section placed in the image at its load address."""

    name: str
    lma: int
    data: bytes


def _section_lma(elf: ELFFile, section: object) -> int:
    """Return a section's load address, as BFD derives it from the program headers.

    A section inside a ``PT_LOAD`` segment loads at ``p_paddr`` plus its file
    offset within the segment. A section outside every segment loads at its
    ``sh_addr``.
    """
    offset = section["sh_offset"]  # type: ignore[index]
    size = section["sh_size"]  # type: ignore[index]
    for segment in elf.iter_segments(type="PT_LOAD"):
        start = segment["p_offset"]
        if start <= offset and offset + size <= start + segment["p_filesz"]:
            return int(segment["p_paddr"] + (offset - start))
    return int(section["sh_addr"])  # type: ignore[index]


def loaded_sections(elf_path: Path) -> list[LoadedSection]:
    """Read the allocated sections with contents from an ELF file, sorted by LMA."""
    try:
        with open(elf_path, "rb") as stream:
            elf = ELFFile(stream)
            if elf["e_machine"] != "EM_ARM" or elf.elfclass != 32:
                raise ImageError(
                    f"{elf_path} is not a 32-bit Arm ELF (machine {elf['e_machine']}); "
                    "build the application for the Cortex-M33"
                )
            sections = []
            for section in elf.iter_sections():
                if not section["sh_flags"] & SH_FLAGS.SHF_ALLOC:
                    continue
                if section["sh_type"] == "SHT_NOBITS" or section["sh_size"] == 0:
                    continue
                lma = _section_lma(elf, section)
                sections.append(LoadedSection(section.name, lma, section.data()))
    except FileNotFoundError as exc:
        raise ImageError(f"ELF file {elf_path} not found; check the path") from exc
    except (ELFError, OSError) as exc:
        raise ImageError(f"cannot read {elf_path} as an ELF file: {exc}") from exc
    sections.sort(key=lambda s: s.lma)
    return sections


def build_image(elf_path: Path, *, base: int = APP_FLASH_BASE, size: int = APP_FLASH_SIZE) -> bytes:
    """Build the flash image of an ELF: sections at their LMA, 0xFF between them."""
    sections = loaded_sections(elf_path)
    if not sections:
        raise ImageError(f"{elf_path} has no loadable sections; is it a linked application?")

    end = base
    for section in sections:
        section_end = section.lma + len(section.data)
        if section.lma < base or section_end > base + size:
            raise ImageError(
                f"section {section.name} of {elf_path} loads at 0x{section.lma:08x}.."
                f"0x{section_end:08x}, outside application flash 0x{base:08x}..0x{base + size:08x}; "
                "link the application with the SDK linker script"
            )
        end = max(end, section_end)

    image = bytearray([GAP_FILL]) * (end - base)
    for section in sections:
        offset = section.lma - base
        image[offset : offset + len(section.data)] = section.data
    log.debug(
        "Built flash image (elf=%s, size=%d, sections=%d)", elf_path, len(image), len(sections)
    )
    return bytes(image)
