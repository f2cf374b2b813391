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
    assert not (tmp_path / "profiles.json").exists()
