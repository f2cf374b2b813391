"""`ov run`: factory-test runs of compiled firmware, ELF, raw image and bundle, with no cloud."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from openvisor.bundle import (
    ManifestOptions,
    build_image,
    create_bundle,
    read_bundle,
    write_bundle,
)

ROOT = Path(__file__).resolve().parents[3]


def invoke(*args: str) -> Result:
    """Run `ov run ARGS` in this process."""
    from openvisor.cli.main import app

    return CliRunner().invoke(app, ["run", *args])


def ov_run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `ov run ARGS` as a separate program."""
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
    assert "[USART2] selftest: console ok" in result.stdout
    assert "[gpio] PA5 high" in result.stdout
    assert "mvTestingComplete(status=0)" in result.stdout


def test_crashing_app_restarts(firmware: Callable[[str], Path]) -> None:
    result = invoke(str(firmware("k_crash_once")), "--fast", "--seconds", "5")
    assert result.exit_code == 42, result.output
    assert "[test] crash_once: first boot, crashing" in result.output
    assert "[boot 2] wake reason APPLICATIONCRASH" in result.output
    assert "[test] crash_once: restarted after crash" in result.output
    assert "fault address 0x30000000" in result.output
    assert "restarting in 1 s" in result.output


def test_timeout_exits_124(firmware: Callable[[str], Path]) -> None:
    result = invoke(str(firmware("hello")), "--fast", "--seconds", "0.5")
    assert result.exit_code == 124
    assert "timed out after 0.5 s of virtual time" in result.output


def test_unloadable_image(tmp_path: Path) -> None:
    missing = invoke(str(tmp_path / "missing.elf"), "--fast")
    assert missing.exit_code == 2
    assert "cannot load" in missing.output
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    result = invoke(str(empty), "--fast")
    assert result.exit_code == 2
    assert "is empty" in result.output


def test_raw_image(firmware: Callable[[str], Path], tmp_path: Path) -> None:
    raw = tmp_path / "selftest.bin"
    raw.write_bytes(build_image(firmware("k_selftest")))
    result = invoke(str(raw), "--fast")
    assert result.exit_code == 0, result.output
    assert "[test] selftest: PASS" in result.output


def test_bundle_and_tampered_bundle(firmware: Callable[[str], Path], tmp_path: Path) -> None:
    bundle = tmp_path / "selftest.zip"
    bundle.write_bytes(create_bundle(firmware("k_selftest"), ManifestOptions()))
    good = invoke(str(bundle), "--fast")
    assert good.exit_code == 0, good.output
    assert "selftest: PASS" in good.output

    original = read_bundle(bundle.read_bytes())
    layer = bytearray(next(iter(original.layers.values())))
    layer[0x200] ^= 0xFF
    tampered = tmp_path / "tampered.zip"
    tampered.write_bytes(write_bundle(original.manifest, [bytes(layer)]))
    bad = invoke(str(tampered), "--fast")
    assert bad.exit_code == 2
    assert "cannot load" in bad.output


def test_negative_seconds_rejected(firmware: Callable[[str], Path]) -> None:
    result = invoke(str(firmware("hello")), "--seconds", "-1")
    assert result.exit_code == 2


@pytest.mark.skipif(shutil.which("gdb-multiarch") is None, reason="needs gdb-multiarch")
def test_gdb_holds_app_until_continue(firmware: Callable[[str], Path]) -> None:
    elf = firmware("k_selftest")
    process = subprocess.Popen(
        [sys.executable, "-m", "openvisor.cli.main", "run", str(elf), "--fast", "--gdb", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.search(r"127\.0\.0\.1:(\d+)", first)
        assert match, first
        gdb = subprocess.run(
            [
                "gdb-multiarch",
                "-batch",
                "-ex",
                f"target remote 127.0.0.1:{match.group(1)}",
                "-ex",
                "info registers pc",
                "-ex",
                "continue",
                str(elf),
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "<Reset_Handler>" in gdb.stdout, gdb.stdout + gdb.stderr
        rest = process.stdout.read()
        assert process.wait(timeout=60) == 0, rest
    finally:
        process.kill()
        process.wait()
    assert "[test] selftest: PASS" in rest
