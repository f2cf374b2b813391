"""Errors a new user meets first: each names the value and the fix, with the documented status."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from typer.testing import CliRunner

from openvisor.cli.main import app
from openvisor.cli.statelock import StateLock

if TYPE_CHECKING:
    from conftest import OvRunner

EXIT_BAD_IMAGE = 2
EXIT_TIMEOUT = 124


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["run", "--fast", "--seconds", "1", *args])
    return result.exit_code, result.output


def test_api_key_without_secret_invalid(ov: OvRunner) -> None:
    result = ov("--api-key", "bogus", "devices", env={"OPENVISOR_API_KEY": ""})
    assert result.exit_code == 1
    assert "API key from --api-key is invalid" in result.output
    assert "SID:SECRET" in result.output
    assert "no API key for" not in result.output


def test_api_key_sid_only_named(ov: OvRunner) -> None:
    sid = "SK" + "1" * 32
    result = ov("devices", env={"OPENVISOR_API_KEY": sid})
    assert result.exit_code == 1
    assert f"API key '{sid}' from environment (OPENVISOR_API_KEY) is invalid" in result.output


def test_debug_unreachable_exits_3(ov: OvRunner, tmp_path: Path) -> None:
    ov.ok("keys", "generate", str(tmp_path / "debug"))
    url = f"http://127.0.0.1:{_closed_port()}"
    result = ov(
        "debug",
        "UV" + "0" * 32,
        "--key",
        str(tmp_path / "debug.pem"),
        "--port",
        "0",
        env={"OPENVISOR_API_URL": url},
    )
    assert result.exit_code == 3, result.output
    assert "cannot reach the debug relay" in result.output
    assert "ov up" in result.output


def test_debug_key_not_pem_names_file(ov: OvRunner, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# not a key\n")
    result = ov("debug", "UV" + "0" * 32, "--key", str(readme))
    assert result.exit_code == 1
    assert str(readme) in result.output
    assert "ov keys generate debug" in result.output
    assert "openssl" not in result.output


def test_deploy_damaged_zip_names_path(ov: OvRunner, tmp_path: Path) -> None:
    damaged = tmp_path / "bad.zip"
    damaged.write_bytes(b"PK\x03\x04" + b"garbage" * 8)
    result = ov("deploy", str(damaged), "--all")
    assert result.exit_code == 1
    assert f"{damaged} is not a valid bundle" in result.output
    assert "damaged" in result.output


def test_run_damaged_zip_not_raw(tmp_path: Path) -> None:
    damaged = tmp_path / "bad.zip"
    damaged.write_bytes(b"PK\x03\x04" + b"garbage" * 8)
    code, output = _run(str(damaged))
    assert code == EXIT_BAD_IMAGE
    assert str(damaged) in output
    assert "damaged" in output
    assert "vector table" not in output


def test_run_host_elf_names_machine() -> None:
    program = Path(sys.executable).resolve()
    code, output = _run(str(program))
    assert code == EXIT_BAD_IMAGE
    assert f"{program} is not a 32-bit Arm ELF (machine EM_" in output
    assert "vector table" not in output


def test_run_missing_file_names_fix(tmp_path: Path) -> None:
    missing = tmp_path / "missing.elf"
    code, output = _run(str(missing))
    assert code == EXIT_BAD_IMAGE
    assert str(missing) in output
    assert "file not found" in output
    assert "check the path" in output


def test_run_timeout_not_an_error(firmware: Callable[[str], Path]) -> None:
    code, output = _run(str(firmware("hello")))
    assert code == EXIT_TIMEOUT
    assert "Error:" not in output
    assert "timed out after 1 s of virtual time" in output


def test_bundle_missing_out_folder(firmware: Callable[[str], Path], tmp_path: Path) -> None:
    out = tmp_path / "nonexistent" / "out.zip"
    result = CliRunner().invoke(app, ["bundle", str(firmware("hello")), str(out)])
    assert result.exit_code == 1
    assert f"cannot write bundle {out}" in result.output
    assert f"folder {out.parent} does not exist" in result.output


def test_up_rejects_locked_state(ov: OvRunner, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    holder = StateLock(state)
    holder.acquire()
    holder.record(url="http://127.0.0.1:18080")
    try:
        result = ov("up", "--state", str(state), "--port", "0", "--devices", "0")
    finally:
        holder.release()
    assert result.exit_code == 1
    assert f"state directory {state} is in use" in result.output
    assert "http://127.0.0.1:18080" in result.output
    assert "--state DIR" in result.output
    assert not (tmp_path / "profiles.json").exists()
