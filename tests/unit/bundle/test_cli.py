"""`ov keys generate`, `ov bundle` and `ov bundle inspect`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import typer
from typer.testing import CliRunner

from openvisor.bundle import TrustStore, load_public_key_pem, read_bundle_file, verify_bundle
from openvisor.bundle.manifest import parse_manifest
from openvisor.cli.commands import bundle as bundle_command
from openvisor.cli.commands import keys as keys_command


def _app() -> typer.Typer:
    app = typer.Typer()
    bundle_command.register(app)
    keys_command.register(app)
    return app


def test_keys_bundle_inspect(firmware: Callable[[str], Path], tmp_path: Path) -> None:
    runner = CliRunner()
    app = _app()
    result = runner.invoke(app, ["keys", "generate", str(tmp_path / "dev")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "dev.pem").stat().st_mode & 0o077 == 0
    again = runner.invoke(app, ["keys", "generate", str(tmp_path / "dev")])
    assert again.exit_code != 0

    out = tmp_path / "app.zip"
    result = runner.invoke(
        app,
        ["bundle", str(firmware("hello")), str(out), "--sign-key", str(tmp_path / "dev.pem")]
        + ["--debug-auth-pubkey", str(tmp_path / "dev.pub.pem"), "--minimum-kernel-version", "1"]
        + ["--connection-grace-time", "30", "--crash-min-restart-ms", "250"],
    )
    assert result.exit_code == 0, result.output
    public_key = load_public_key_pem((tmp_path / "dev.pub.pem").read_bytes())
    trust = TrustStore()
    trust.add(public_key)
    verified = verify_bundle(read_bundle_file(out), trust=trust, kernel_version=1)
    assert verified.manifest.debug_auth_pubkey == public_key
    assert verified.manifest.connection_grace_time_sec == 30
    assert verified.manifest.crash["minimum_restart_ms"] == 250

    result = runner.invoke(
        app,
        ["bundle", "inspect", str(out), "--json", "--trust-key", str(tmp_path / "dev.pub.pem")],
    )
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["app_id"] == verified.app_id
    assert info["signature"] == "valid"
    assert info["minimum_kernel_version"] == 1
    assert info["layers"][0]["fetch_hash"] == verified.manifest.layers[0].fetch_hash.hex()


def test_bundle_unsigned_by_default(firmware: Callable[[str], Path], tmp_path: Path) -> None:
    out = tmp_path / "plain.zip"
    result = CliRunner().invoke(_app(), ["bundle", str(firmware("hello")), str(out)])
    assert result.exit_code == 0, result.output
    manifest = parse_manifest(read_bundle_file(out).manifest)
    assert manifest.signer_id == 0
    assert manifest.signature == b""
