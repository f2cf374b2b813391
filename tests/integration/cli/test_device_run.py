"""`ov device provision` and `ov device run` against a cloud with an embedded broker."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openvisor.cli.main import app
from openvisor.cli.stack import LocalStack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    """A cloud and broker with no devices of its own."""
    local = LocalStack(tmp_path / "cloud", devices=0)
    local.start()
    yield local
    local.stop()


def _online(env: dict[str, str], sid: str) -> bool:
    result = CliRunner().invoke(app, ["device", "show", sid, "--json"], env=env)
    assert result.exit_code == 0, result.output
    return bool(json.loads(result.output)["presence"]["online"])


def test_provision_then_run_device(stack: LocalStack, tmp_path: Path) -> None:
    env = {
        "OPENVISOR_CONFIG": str(tmp_path / "profiles.json"),
        "OPENVISOR_API_URL": stack.cloud.url,
        "OPENVISOR_API_KEY": stack.cloud.credentials.key,
        "COLUMNS": "200",
    }
    device_dir = tmp_path / "devices" / "bench"
    runner = CliRunner()
    provisioned = runner.invoke(
        app,
        ["device", "provision", "--state", str(device_dir), "--name", "bench", "--tag", "lab"],
        env=env,
    )
    assert provisioned.exit_code == 0, provisioned.output
    assert (device_dir / "identity" / "device.json").exists()
    assert json.loads((device_dir / "trust.json").read_text())["keys"]
    registration = device_dir / "provisioning.json"
    assert stat.S_IMODE(registration.stat().st_mode) & 0o077 == 0
    sid = json.loads(registration.read_text())["sid"]
    again = runner.invoke(app, ["device", "provision", "--state", str(device_dir)], env=env)
    assert again.exit_code == 1
    assert "already contains a device" in again.output

    shown = json.loads(runner.invoke(app, ["device", "show", "bench", "--json"], env=env).output)
    assert shown["sid"] == sid
    assert shown["tags"] == ["lab"]
    assert not shown["presence"]["online"]

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "openvisor.cli.main",
            "device",
            "run",
            str(device_dir),
            "--broker",
            stack.broker_url,
        ],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not _online(env, sid):
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "device did not come online"
            time.sleep(0.3)
        fault = runner.invoke(
            app,
            ["device", "fault", "bench", "link-down", "--state", str(device_dir.parent)],
            env=env,
        )
        assert fault.exit_code == 0, fault.output
        deadline = time.monotonic() + 30
        while _online(env, sid):
            assert time.monotonic() < deadline, "device stayed online after link-down"
            time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
        assert process.returncode == 0, output
        assert sid in output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_run_without_devices_fails(tmp_path: Path) -> None:
    env = {
        "OPENVISOR_CONFIG": str(tmp_path / "profiles.json"),
        "OPENVISOR_STATE_DIR": str(tmp_path / "empty"),
    }
    result = CliRunner().invoke(app, ["device", "run"], env=env)
    assert result.exit_code == 1
    assert "no provisioned devices" in result.output
