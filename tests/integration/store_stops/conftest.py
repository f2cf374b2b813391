"""The `assemble` fixture of the store-stop tests."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable

import pytest

from .programs import DEFAULTS, VECTORS


@pytest.fixture(scope="module")
def assemble(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., bytes]:
    """Return a function that assembles a program (VECTORS, source, DEFAULTS) at 0x0800_0000."""
    if shutil.which("arm-none-eabi-as") is None:
        pytest.fail("arm-none-eabi-as is missing: install gcc-arm-none-eabi")
    directory = tmp_path_factory.mktemp("store_stops")
    built: dict[str, bytes] = {}

    def build(source: str, *, raw: bool = False) -> bytes:
        """Assemble `source`, alone when `raw`, else between VECTORS and DEFAULTS."""
        if not raw:
            source = VECTORS + source + DEFAULTS
        if source in built:
            return built[source]
        header = ".syntax unified\n.thumb\n.cpu cortex-m33\n.fpu fpv5-sp-d16\n"
        (directory / "image.S").write_text(header + source)
        for command in (
            ["arm-none-eabi-as", "-o", "image.o", "image.S"],
            ["arm-none-eabi-ld", "-Ttext=0x08000000", "-e", "0x08000000"]
            + ["-o", "image.elf", "image.o"],
            ["arm-none-eabi-objcopy", "-O", "binary", "image.elf", "image.bin"],
        ):
            process = subprocess.run(
                command, cwd=directory, capture_output=True, text=True, check=False
            )
            assert process.returncode == 0, process.stderr
        built[source] = (directory / "image.bin").read_bytes()
        return built[source]

    return build
