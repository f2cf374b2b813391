"""The example ELFs shipped in src/openvisor/examples match a fresh, reproducible build."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "src" / "openvisor" / "examples"
SHIPPED = ["app_blink", "app_netdemo", "app_crash", "demo_v1", "demo_v2", "demo_v3"]


@pytest.fixture(scope="module")
def same_toolchain() -> None:
    """Skip unless this machine's compiler built the shipped copies: others give other bytes."""
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.fail("arm-none-eabi-gcc is not installed: run ./scripts/install.sh --test")
    version = subprocess.run(
        ["arm-none-eabi-gcc", "--version"], capture_output=True, text=True, check=True
    ).stdout.splitlines()[0]
    shipped = (EXAMPLES / "TOOLCHAIN").read_text().strip()
    if version != shipped:
        pytest.skip(f"the examples were built with {shipped!r}, this machine has {version!r}")


@pytest.mark.parametrize("name", SHIPPED)
def test_example_is_shipped(name: str) -> None:
    data = (EXAMPLES / f"{name}.elf").read_bytes()
    assert data[:4] == b"\x7fELF"


@pytest.mark.parametrize("name", SHIPPED)
def test_example_has_no_checkout_path(name: str) -> None:
    data = (EXAMPLES / f"{name}.elf").read_bytes()
    assert str(ROOT).encode() not in data
    assert b"/tmp/" not in data


@pytest.mark.usefixtures("same_toolchain")
def test_check_examples_target_passes() -> None:
    result = subprocess.run(
        ["make", "-s", "-j2", "-C", str(ROOT / "firmware"), "check-examples"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for name in SHIPPED:
        assert f"{name}.elf: matches" in result.stdout


@pytest.mark.usefixtures("same_toolchain")
def test_build_is_independent_of_checkout_path(tmp_path: Path) -> None:
    # Build demo_v1 from a copy of the sources elsewhere: the bytes must not change.
    shutil.copytree(ROOT / "sdk", tmp_path / "sdk", ignore=shutil.ignore_patterns("__pycache__"))
    firmware = tmp_path / "firmware"
    firmware.mkdir()
    shutil.copy(ROOT / "firmware" / "Makefile", firmware / "Makefile")
    shutil.copytree(ROOT / "firmware" / "common", firmware / "common")
    shutil.copytree(ROOT / "firmware" / "apps" / "demo_v1", firmware / "apps" / "demo_v1")
    result = subprocess.run(
        ["make", "-s", "-C", str(firmware), "build/demo_v1.elf"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (firmware / "build" / "demo_v1.elf").read_bytes() == (
        EXAMPLES / "demo_v1.elf"
    ).read_bytes()
