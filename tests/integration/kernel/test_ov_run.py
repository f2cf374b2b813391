"""`ov run`: factory-test runs of compiled firmware, ELF, raw image and bundle, with no cloud."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openvisor.bundle import (
    ManifestOptions,
    build_image,
    create_bundle,
    read_bundle,
    write_bundle,
)

ROOT = Path(__file__).resolve().parents[3]


def ov_run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "openvisor.cli.main", "run", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def test_selftest_passes(firmware: Callable[[str], Path], tmp_path: Path) -> None:
    result = ov_run(str(firmware("k_selftest")), "--fast", "--state", str(tmp_path / "state"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[boot 1] wake reason COLDBOOT" in result.stdout
    assert "[test] selftest: start" in result.stdout
    assert "[test] selftest: PASS" in result.stdout
    assert "[log] selftest: server log line" in result.stdout
    assert "mvTestingComplete(status=0)" in result.stdout


def test_crashing_app_restarts(firmware: Callable[[str], Path]) -> None:
    result = ov_run(str(firmware("k_crash_once")), "--fast", "--seconds", "5")
    assert result.returncode == 42, result.stdout + result.stderr
    assert "[test] crash_once: first boot, crashing" in result.stdout
    assert "[boot 2] wake reason APPLICATIONCRASH" in result.stdout
    assert "[test] crash_once: restarted after crash" in result.stdout
    assert "fault address 0x30000000" in result.stderr
    assert "restarting in 1 s" in result.stderr


def test_timeout_is_an_error(firmware: Callable[[str], Path]) -> None:
    result = ov_run(str(firmware("hello")), "--fast", "--seconds", "0.5")
    assert result.returncode == 124
    assert "timed out after 0.5 s of virtual time" in result.stderr


def test_unloadable_image(tmp_path: Path) -> None:
    missing = ov_run(str(tmp_path / "missing.elf"), "--fast")
    assert missing.returncode == 2
    assert "cannot load" in missing.stderr
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    result = ov_run(str(empty), "--fast")
    assert result.returncode == 2
    assert "is empty" in result.stderr


def test_raw_image(firmware: Callable[[str], Path], tmp_path: Path) -> None:
    raw = tmp_path / "selftest.bin"
    raw.write_bytes(build_image(firmware("k_selftest")))
    result = ov_run(str(raw), "--fast")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[test] selftest: PASS" in result.stdout


def test_bundle_and_tampered_bundle(firmware: Callable[[str], Path], tmp_path: Path) -> None:
    bundle = tmp_path / "selftest.zip"
    bundle.write_bytes(create_bundle(firmware("k_selftest"), ManifestOptions()))
    runner = CliRunner()
    from openvisor.cli.main import app

    good = runner.invoke(app, ["run", str(bundle), "--fast"])
    assert good.exit_code == 0, good.output
    assert "selftest: PASS" in good.output

    original = read_bundle(bundle.read_bytes())
    layer = bytearray(next(iter(original.layers.values())))
    layer[0x200] ^= 0xFF
    tampered = tmp_path / "tampered.zip"
    tampered.write_bytes(write_bundle(original.manifest, [bytes(layer)]))
    bad = ov_run(str(tampered), "--fast")
    assert bad.returncode == 2
    assert "cannot load" in bad.stderr


@pytest.mark.parametrize("seconds", ["-1"])
def test_negative_seconds_rejected(firmware: Callable[[str], Path], seconds: str) -> None:
    result = ov_run(str(firmware("hello")), "--seconds", seconds)
    assert result.returncode == 2
