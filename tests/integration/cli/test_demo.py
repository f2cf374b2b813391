"""`ov demo` end to end: cloud, broker and a device in one process, three deployments."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from openvisor.cli.main import app


def test_demo_runs_to_rollback_summary(tmp_path: Path) -> None:
    env = {
        "OPENVISOR_CONFIG": str(tmp_path / "profiles.json"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "COLUMNS": "160",
    }
    args = ["demo", "--state", str(tmp_path / "state"), "--log-seconds", "1", "--timeout", "120"]
    result = CliRunner().invoke(app, args, env=env)
    output = result.output
    assert result.exit_code == 0, output
    assert "demo v1 starting" in output
    assert "demo v2 starting" in output
    assert "rolled back" in output.lower()
    assert "APP_CRASHED" in output
    assert "Crash CR" in output
    assert "main+0x" in output
    assert re.search(r"demo_v1\s.*succeeded", output)
    assert re.search(r"demo_v2\s.*succeeded", output)
    assert re.search(r"demo_v3\s.*rolled-back", output)
    assert "Demo complete." in output
    # v1 is shown running while v2 is on its way.
    assert re.search(
        r"demo_v1 keeps running while demo_v2 is (pending|downloading); .*demo v1", output
    )
    # Each progress caption ends its line, so the next output starts on its own.
    for line in output.splitlines():
        assert not re.search(r"s elapsed\s*\S", line), line
    # The printed API URL is what --api-url accepts.
    assert re.search(r"Cloud API URL: http://127\.0\.0\.1:\d+ ", output)
    assert not (tmp_path / "profiles.json").exists()
