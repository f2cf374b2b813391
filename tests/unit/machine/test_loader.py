"""Image loading: ELF parsing, raw images and their errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from openvisor.errors import ImageError
from openvisor.machine.loader import load_elf_file, parse_elf, raw_image
from openvisor.machine.traps import find_divisions


def test_elf_segments_and_symbols(firmware: Callable[[str], Path]) -> None:
    image = load_elf_file(firmware("bm_blink"))
    assert image.segments[0].address == 0x0800_0000
    main = image.symbols.by_name["main"]
    assert main & 1 == 0
    assert image.symbols.symbolize(main) == "main"
    assert image.symbols.symbolize(main + 4) == "main+0x4"
    assert image.symbols.symbolize(0x0000_0010) is None


def test_elf_rejects_garbage() -> None:
    with pytest.raises(ImageError, match="not a valid ELF"):
        parse_elf(b"\x7fELF" + b"\x00" * 60)


def test_elf_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="cannot read ELF file"):
        load_elf_file(tmp_path / "missing.elf")


def test_raw_image_limits() -> None:
    with pytest.raises(ImageError, match="too short"):
        raw_image(b"\x00" * 4)
    with pytest.raises(ImageError, match="exceeds"):
        raw_image(b"\x00" * (1024 * 1024 + 4))
    image = raw_image(b"\x00" * 16)
    assert image.segments[0].address == 0x0800_0000


def test_find_divisions_in_code() -> None:
    # NOP, SDIV r0, r1, r2 (0xFB91 0xF0F2), UDIV r3, r4, r5 (0xFBB4 0xF3F5), MOVS r0, #1.
    code = bytes.fromhex("00bf91fbf2f0b4fbf5f30120")
    assert find_divisions(code, 0x0800_0000) == {0x0800_0002: 2, 0x0800_0006: 5}
