"""Fixtures for machine tests: boot a built firmware image and run it to a console line."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from openvisor.machine import Machine, RunReason, RunResult

MAILBOX = 0x2007_E000


def _run_until_line(machine: Machine, line: str, *, max_cycles: int = 200_000_000) -> RunResult:
    """Run until the console prints `line` (the run stops right after it)."""

    def stop_at_line(source: str, text: str) -> None:
        if text == line:
            machine.request_stop()

    machine.peripherals.on_console(stop_at_line)
    result = machine.run(max_cycles=max_cycles)
    assert result.reason is RunReason.STOP, (
        f"expected console line {line!r}, run ended with {result.reason} "
        f"{result.fault}; console: {machine.peripherals.console}"
    )
    return result


def _console_values(machine: Machine) -> dict[str, str]:
    """Parse the console's "key=value" lines."""
    values = {}
    for line in machine.peripherals.console:
        key, sep, value = line.partition("=")
        if sep:
            values[key] = value
    return values


@pytest.fixture
def boot(firmware: Callable[[str], Path]) -> Callable[..., Machine]:
    """Return a function that loads an image into a fresh machine and resets it."""
    machines: list[Machine] = []

    def make(name: str, **kwargs: object) -> Machine:
        machine = Machine(**kwargs)  # type: ignore[arg-type]
        machine.load_elf(firmware(name))
        machine.reset()
        machines.append(machine)
        return machine

    return make


@pytest.fixture
def run_until_line() -> Callable[..., RunResult]:
    """Return a function that runs a machine until a console line appears."""
    return _run_until_line


@pytest.fixture
def console_values() -> Callable[[Machine], dict[str, str]]:
    """Return a function that parses a machine's "key=value" console lines."""
    return _console_values


@pytest.fixture
def assemble(tmp_path: Path) -> Callable[[str], bytes]:
    """Return a function that assembles Thumb source at 0x0800_0000 into a raw image."""
    if shutil.which("arm-none-eabi-as") is None:
        pytest.fail("arm-none-eabi-as is missing: install gcc-arm-none-eabi")

    def build(source: str) -> bytes:
        header = ".syntax unified\n.thumb\n.cpu cortex-m33\n"
        (tmp_path / "image.S").write_text(header + source)
        for command in (
            ["arm-none-eabi-as", "-o", "image.o", "image.S"],
            [
                "arm-none-eabi-ld",
                "-Ttext=0x08000000",
                "-e",
                "0x08000000",
                "-o",
                "image.elf",
                "image.o",
            ],
            ["arm-none-eabi-objcopy", "-O", "binary", "image.elf", "image.bin"],
        ):
            subprocess.run(command, cwd=tmp_path, check=True, capture_output=True)
        return (tmp_path / "image.bin").read_bytes()

    return build
