"""`ov up` as a user runs it: a separate process, other `ov` commands against it, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from openvisor.cloud.client import CloudClient

OV = [sys.executable, "-m", "openvisor.cli.main"]


def _ov(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*OV, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _wait_for(predicate: Callable[[], bool], timeout: float, description: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout} s waiting for {description}")


@pytest.fixture
def up_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENVISOR_")}
    env.update(
        {
            "OPENVISOR_CONFIG": str(tmp_path / "profiles.json"),
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
            "COLUMNS": "200",
        }
    )
    return env


@pytest.fixture
def running_up(tmp_path: Path, up_env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    state = tmp_path / "state"
    process = subprocess.Popen(
        [*OV, "up", "--devices", "2", "--port", "0", "--state", str(state)],
        env=up_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    profile = Path(up_env["OPENVISOR_CONFIG"])
    try:
        _wait_for(lambda: profile.exists() or process.poll() is not None, 60, "ov up to start")
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _devices(env: dict[str, str]) -> list[dict[str, Any]]:
    """List devices with the URL and key `ov up` saved in the profile (no `ov` start-up cost)."""
    stored = json.loads(Path(env["OPENVISOR_CONFIG"]).read_text())["profiles"]["default"]
    with CloudClient(stored["api_url"], stored["api_key"], stored["api_secret"]) as client:
        return list(client.list_devices())


def _online(env: dict[str, str], sid: str) -> bool:
    return any(d["sid"] == sid and d["presence"]["online"] for d in _devices(env))


def test_up_serves_devices_faults_and_stops(
    running_up: subprocess.Popen[str], up_env: dict[str, str], tmp_path: Path
) -> None:
    stored = json.loads(Path(up_env["OPENVISOR_CONFIG"]).read_text())["profiles"]["default"]
    assert stored["api_url"].startswith("http://127.0.0.1:")
    assert stored["api_key"].startswith("AC")
    assert stored["state_dir"] == str(tmp_path / "state")

    listed = _ov(up_env, "devices", "--json")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == 2
    sid = str(_devices(up_env)[0]["sid"])
    _wait_for(lambda: _online(up_env, sid), 30, f"{sid} online")

    down = _ov(up_env, "device", "fault", sid, "link-down")
    assert down.returncode == 0, down.stderr
    _wait_for(lambda: not _online(up_env, sid), 30, f"{sid} offline after link-down")
    assert _ov(up_env, "device", "fault", sid, "link-up").returncode == 0
    _wait_for(lambda: _online(up_env, sid), 30, f"{sid} online after link-up")
    cut = _ov(up_env, "device", "fault", sid, "power-cut")
    assert cut.returncode == 0, cut.stderr
    _wait_for(lambda: _online(up_env, sid), 30, f"{sid} online after power-cut")

    unknown = _ov(up_env, "device", "fault", "UV" + "0" * 32, "link-down")
    assert unknown.returncode == 1
    assert "is not hosted here" in unknown.stderr

    sids = sorted(str(d["sid"]) for d in _devices(up_env))
    running_up.send_signal(signal.SIGINT)
    output, _ = running_up.communicate(timeout=60)
    assert running_up.returncode == 0, output
    assert "openvisor is up" in output
    assert "Stopped. State is kept" in output
    assert (tmp_path / "state" / "cloud.db").exists()

    # A second start on the same state keeps the account, the devices and their data.
    profile = Path(up_env["OPENVISOR_CONFIG"])
    written = profile.stat().st_mtime_ns
    broker_port = json.loads((tmp_path / "state" / "broker.json").read_text())["port"]
    restarted = subprocess.Popen(
        [*OV, "up", "--devices", "2", "--port", "0", "--state", str(tmp_path / "state")],
        env=up_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for(lambda: profile.stat().st_mtime_ns != written, 60, "ov up to start again")
        _wait_for(lambda: _online(up_env, sid), 60, f"{sid} online after restart")
        again = json.loads(Path(up_env["OPENVISOR_CONFIG"]).read_text())["profiles"]["default"]
        assert again["api_key"] == stored["api_key"]
        assert sorted(str(d["sid"]) for d in _devices(up_env)) == sids
        reused = json.loads((tmp_path / "state" / "broker.json").read_text())["port"]
        assert reused == broker_port
        restarted.send_signal(signal.SIGINT)
        restarted.communicate(timeout=60)
        assert restarted.returncode == 0
    finally:
        if restarted.poll() is None:
            restarted.kill()
            restarted.wait()


def test_fault_without_running_host(up_env: dict[str, str], tmp_path: Path) -> None:
    env = {**up_env, "OPENVISOR_API_KEY": "AC" + "0" * 32 + ":x"}
    result = _ov(env, "device", "fault", "UV" + "1" * 32, "power-cut", "--state", str(tmp_path))
    assert result.returncode == 1
    assert "no running device host" in result.stderr


def test_unknown_fault_rejected(up_env: dict[str, str]) -> None:
    result = _ov(up_env, "device", "fault", "UV" + "1" * 32, "meteor")
    assert result.returncode == 1
    assert "unknown fault 'meteor'" in result.stderr
