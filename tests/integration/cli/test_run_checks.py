"""`ov run` rejects files that cannot be an application and reports errors like other commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from elftools.elf.elffile import ELFFile
from typer.testing import CliRunner

from openvisor.bundle import ManifestOptions, create_bundle
from openvisor.cli.main import app
from openvisor.kernel.abi import KERNEL_VERSION

EXIT_BAD_IMAGE = 2


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["run", "--fast", "--seconds", "1", *args])
    return result.exit_code, result.output


def test_run_rejects_text_file(tmp_path: Path) -> None:
    text = tmp_path / "README.md"
    text.write_text("# openvisor\n\nRun Microvisor applications on virtual devices.\n" * 4)
    code, output = _run(str(text))
    assert code == EXIT_BAD_IMAGE
    assert output.startswith("Error: ")
    assert str(text) in output
    assert "vector table" in output
    assert "[boot" not in output


def test_run_rejects_broken_vector_table(tmp_path: Path, firmware: Callable[[str], Path]) -> None:
    elf = firmware("hello")
    data = bytearray(elf.read_bytes())
    with elf.open("rb") as stream:
        vectors = ELFFile(stream).get_section_by_name(".isr_vector")
        assert vectors is not None and vectors["sh_addr"] == 0x0800_0000
        offset = vectors["sh_offset"]
    data[offset : offset + 8] = b"\xff" * 8
    broken = tmp_path / "broken.elf"
    broken.write_bytes(bytes(data))
    code, output = _run(str(broken))
    assert code == EXIT_BAD_IMAGE
    assert "vector table" in output
    assert str(broken) in output


def test_run_missing_file_error_style(tmp_path: Path) -> None:
    code, output = _run(str(tmp_path / "nosuch.elf"))
    assert code == EXIT_BAD_IMAGE
    assert output.startswith("Error: ")
    assert "error:" not in output


def test_good_elf_still_runs(firmware: Callable[[str], Path]) -> None:
    code, output = _run(str(firmware("hello")))
    assert "[boot 1]" in output
    assert "vector table" not in output
    assert code in (0, 124)


def test_run_rejects_bundle_for_newer_kernel(
    tmp_path: Path, firmware: Callable[[str], Path]
) -> None:
    needed = KERNEL_VERSION + 5
    bundle = tmp_path / "future.zip"
    bundle.write_bytes(
        create_bundle(firmware("hello"), ManifestOptions(minimum_kernel_version=needed))
    )
    code, output = _run(str(bundle))
    assert code == EXIT_BAD_IMAGE
    # An unsigned bundle also logs a warning first.
    assert f"Error: cannot load {bundle}" in output.replace("\n", "")
    assert f"kernel version {needed} or later" in output
    assert f"--minimum-kernel-version {KERNEL_VERSION}" in output
    assert "[boot" not in output
    assert "Traceback" not in output
