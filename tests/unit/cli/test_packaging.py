"""Package metadata, scripts/install.sh and the firmware Makefile's optional Zig image."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def test_license_is_spdx_expression() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
    requires = project["build-system"]["requires"]
    setuptools = next(r for r in requires if r.startswith("setuptools"))
    found = re.search(r">=\s*(\d+)", setuptools)
    # setuptools reads a license expression (PEP 639) from version 77 on.
    assert found is not None and int(found.group(1)) >= 77


def _stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/usr/bin/env bash\n" + body + "\n")
    path.chmod(0o755)


def _run_install(tmp_path: Path, *args: str) -> tuple[list[str], str]:
    """Run scripts/install.sh in a copy of the checkout with apt, dpkg and python3 stubbed.

    Returns the apt-get install lines the script ran and its combined output.
    """
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "install.sh", checkout / "scripts" / "install.sh")
    stubs = tmp_path / "bin"
    stubs.mkdir()
    calls = tmp_path / "apt-calls"
    _stub(stubs, "id", "echo 0")
    _stub(stubs, "dpkg-query", "exit 1")
    _stub(stubs, "apt-get", f'[[ "$1" == install ]] && echo "$*" >> {calls}; exit 0')
    pip = "#!/usr/bin/env bash\\nexit 0\\n"
    _stub(
        stubs,
        "python3",
        f'mkdir -p .venv/bin && printf "{pip}" > .venv/bin/pip && chmod +x .venv/bin/pip',
    )
    env = {"PATH": f"{stubs}:/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        ["bash", str(checkout / "scripts" / "install.sh"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = calls.read_text().splitlines() if calls.exists() else []
    return lines, result.stdout


def test_install_adds_host_compiler(tmp_path: Path) -> None:
    lines, _ = _run_install(tmp_path)
    assert len(lines) == 1
    packages = lines[0].split()
    assert "gcc" in packages
    assert "libc6-dev" in packages
    assert "gcc-arm-none-eabi" not in packages


def test_install_test_adds_toolchain(tmp_path: Path) -> None:
    lines, _ = _run_install(tmp_path, "--test")
    assert len(lines) == 1
    packages = lines[0].split()
    assert "gcc" in packages
    assert "gcc-arm-none-eabi" in packages
    assert "gdb-multiarch" in packages


def _make_dry_run(tmp_path: Path, *args: str) -> str:
    """Return what `make -n -C firmware` would run for a fresh build folder."""
    result = subprocess.run(
        ["make", "-n", "-C", str(ROOT / "firmware"), f"BUILD={tmp_path / 'build'}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_make_skips_zig_without_ziglang(tmp_path: Path) -> None:
    python = tmp_path / "python-without-ziglang"
    python.write_text("#!/bin/sh\nexit 1\n")
    python.chmod(0o755)
    output = _make_dry_run(tmp_path, f"ZIG_PYTHON={python}")
    skipped = [line for line in output.splitlines() if "bm_zig.elf" in line]
    assert len(skipped) == 1
    assert "skipping" in skipped[0]
    assert "ziglang" in skipped[0]
    assert "build-exe" not in output
    assert "hello.elf" in output


def test_make_builds_zig_with_ziglang(tmp_path: Path) -> None:
    if importlib.util.find_spec("ziglang") is None:
        pytest.skip("the ziglang package is not installed in this environment")
    output = _make_dry_run(tmp_path, f"ZIG_PYTHON={sys.executable}")
    assert "build-exe" in output
    assert "skipping" not in output
