"""Fixtures for the SDK tests: compiling against the SDK and importing its generators."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[3]
SDK = ROOT / "sdk"
ARCH = ["-mcpu=cortex-m33", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"]
WARNINGS = ["-Wall", "-Wextra", "-Werror"]

Compile = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def sdk_tool() -> Callable[[str], ModuleType]:
    """Return an importer for the modules of sdk/tools (they import each other by name)."""
    tools = str(SDK / "tools")
    if tools not in sys.path:
        sys.path.insert(0, tools)

    def load(name: str) -> ModuleType:
        return __import__(name)

    return load


@pytest.fixture
def compile_source(tmp_path: Path) -> Compile:
    """Return a function compiling C or C++ source against the SDK into tmp_path."""
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.fail("arm-none-eabi-gcc is not installed: run ./scripts/install.sh --test")

    def compile_(
        source: str,
        *,
        cplusplus: bool = False,
        flags: list[str] | None = None,
        link: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        path = tmp_path / ("unit.cpp" if cplusplus else "unit.c")
        path.write_text(source)
        compiler = "arm-none-eabi-g++" if cplusplus else "arm-none-eabi-gcc"
        output = (
            ["-o", str(tmp_path / "unit.elf")] if link else ["-c", "-o", str(tmp_path / "unit.o")]
        )
        command = [
            compiler,
            *ARCH,
            *WARNINGS,
            f"-I{SDK / 'include'}",
            *(flags or []),
            str(path),
            *output,
        ]
        return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, check=False)

    return compile_
