"""Flash images from ELF files against objcopy (through Intel HEX, gap fill 0xFF)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from openvisor.bundle import build_image
from openvisor.errors import ImageError


def _objcopy_image(elf: Path, tmp_path: Path) -> bytes:
    hex_path = tmp_path / f"{elf.stem}.hex"
    bin_path = tmp_path / f"{elf.stem}.bin"
    subprocess.run(["arm-none-eabi-objcopy", "-O", "ihex", str(elf), str(hex_path)], check=True)
    subprocess.run(
        ["arm-none-eabi-objcopy", "-I", "ihex", "-O", "binary", "--gap-fill=0xff"]
        + [str(hex_path), str(bin_path)],
        check=True,
    )
    return bin_path.read_bytes()


def test_every_built_app_matches_objcopy(firmware: Callable[[str], Path], tmp_path: Path) -> None:
    build_dir = firmware("hello").parent
    elves = sorted(build_dir.glob("*.elf"))
    assert elves
    for elf in elves:
        assert build_image(elf) == _objcopy_image(elf, tmp_path), elf.name


def test_gap_between_sections_is_filled(tmp_path: Path) -> None:
    source = tmp_path / "gap.S"
    source.write_text(
        ".syntax unified\n.thumb\n"
        '.section .vectors,"a"\n.word 0x20080000\n.word 0x08000009\n'
        '.section .far,"ax"\n.word 0x11223344\n'
        '.section .data,"aw"\n.word 0x55667788\n'
        '.section .bss,"aw",%nobits\n.space 64\n'
    )
    script = tmp_path / "gap.ld"
    script.write_text(
        "MEMORY { FLASH (rx) : ORIGIN = 0x08000000, LENGTH = 1024K\n"
        "         RAM (rwx) : ORIGIN = 0x20000000, LENGTH = 512K }\n"
        "SECTIONS {\n"
        "  .vectors : { *(.vectors) } > FLASH\n"
        "  .far 0x08000100 : { *(.far) } > FLASH\n"
        "  .data : { *(.data) } > RAM AT > FLASH\n"
        "  .bss : { *(.bss) } > RAM\n}\n"
    )
    elf = tmp_path / "gap.elf"
    subprocess.run(
        ["arm-none-eabi-gcc", "-mcpu=cortex-m33", "-mthumb", "-nostdlib", "-T", str(script)]
        + ["-o", str(elf), str(source)],
        check=True,
    )
    image = build_image(elf)
    assert image == _objcopy_image(elf, tmp_path)
    assert image[8:0x100] == b"\xff" * (0x100 - 8)
    assert image[0x100:0x104] == bytes.fromhex("44332211")
    assert image[0x104:0x108] == bytes.fromhex("88776655")  # .data at its flash LMA
    assert len(image) == 0x108


def test_section_outside_flash_rejected(tmp_path: Path) -> None:
    source = tmp_path / "ram.S"
    source.write_text('.section .ramcode,"ax"\n.word 1\n')
    script = tmp_path / "ram.ld"
    script.write_text("SECTIONS { .ramcode 0x20000000 : { *(.ramcode) } }\n")
    elf = tmp_path / "ram.elf"
    subprocess.run(
        ["arm-none-eabi-gcc", "-mcpu=cortex-m33", "-mthumb", "-nostdlib", "-T", str(script)]
        + ["-o", str(elf), str(source)],
        check=True,
    )
    with pytest.raises(ImageError, match="outside application flash"):
        build_image(elf)
