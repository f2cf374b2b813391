"""State kept by `ov up` between runs: admin credentials and device folders."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from openvisor.cli.stack import ADMIN_FILE, device_dirs, load_admin
from openvisor.errors import StateError


def test_admin_created_once_and_private(tmp_path: Path) -> None:
    first = load_admin(tmp_path)
    second = load_admin(tmp_path)
    assert first == second
    assert first.account_sid.startswith("AC")
    assert len(first.account_sid) == 34
    assert first.key == f"{first.account_sid}:{first.auth_token}"
    mode = stat.S_IMODE((tmp_path / ADMIN_FILE).stat().st_mode)
    assert mode & 0o077 == 0


def test_malformed_admin_file_rejected(tmp_path: Path) -> None:
    (tmp_path / ADMIN_FILE).write_text(json.dumps({"sid": "x"}))
    with pytest.raises(StateError, match="admin.json is malformed"):
        load_admin(tmp_path)


def test_device_dirs_oldest_first(tmp_path: Path) -> None:
    assert device_dirs(tmp_path / "missing") == []
    for index, name in enumerate(["UVb", "UVa", "UVc"]):
        identity = tmp_path / name / "identity" / "device.json"
        identity.parent.mkdir(parents=True)
        identity.write_text("{}")
        os.utime(identity, (1000 + index, 1000 + index))
    (tmp_path / "not-a-device").mkdir()
    assert [p.name for p in device_dirs(tmp_path)] == ["UVb", "UVa", "UVc"]
