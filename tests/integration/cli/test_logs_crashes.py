"""`ov logs --follow` and `ov crashes` on records stored by the cloud's device-link ingest path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from openvisor.cli.demo import example_elf
from openvisor.cli.local import LocalCloud
from openvisor.cloud.db import session_scope
from openvisor.cloud.service.logs import LogRecord, append_logs
from openvisor.cloud.service.reports import record_crash

if TYPE_CHECKING:
    from conftest import OvRunner


def _store_logs(cloud: LocalCloud, device: str, *messages: str) -> None:
    with session_scope(cloud.service.sessions) as session:
        append_logs(session, device, [LogRecord(message=m) for m in messages])


def test_logs_show_recent_lines(
    ov: OvRunner, cloud: LocalCloud, provision: Callable[..., str]
) -> None:
    device = provision()
    _store_logs(cloud, device, *(f"line {i}" for i in range(5)))
    shown = ov.ok("logs", device, "-n", "2").stdout.splitlines()
    assert len(shown) == 2
    assert shown[0].endswith("line 3")
    assert shown[1].endswith("line 4")
    records = [json.loads(line) for line in ov.ok("logs", device, "--json").stdout.splitlines()]
    assert [r["message"] for r in records] == [f"line {i}" for i in range(5)]


def test_logs_follow_streams_new_lines(
    cloud: LocalCloud, provision: Callable[..., str], ov_env: dict[str, str]
) -> None:
    device = provision()
    _store_logs(cloud, device, "before")
    env = {**os.environ, **ov_env}
    process = subprocess.Popen(
        [sys.executable, "-m", "openvisor.cli.main", "logs", device, "--follow", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())
        assert first["message"] == "before"
        time.sleep(0.5)
        _store_logs(cloud, device, "after 1", "after 2")
        second = json.loads(process.stdout.readline())
        third = json.loads(process.stdout.readline())
        assert second["message"] == "after 1"
        assert third["message"] == "after 2"
        assert third["id"] > second["id"] > first["id"]
    finally:
        process.kill()
        process.wait()


def _crash_report(pc: int, lr: int) -> dict[str, object]:
    return {
        "kind": "fault",
        "detail": "write to secure flash",
        "pc": pc,
        "lr": lr,
        "sp": 0x2007_FFE0,
        "xpsr": 0x0100_0000,
        "fault_address": 0x0C00_0000,
        "access": "write",
        "uptime_us": 1500,
        "stack": "00112233",
        "registers": {},
    }


def test_crashes_symbolized_from_uploaded_elf(
    ov: OvRunner,
    cloud: LocalCloud,
    provision: Callable[..., str],
    firmware: Callable[[str], Path],
    symbol_address: Callable[[Path, str], int],
) -> None:
    device = provision()
    elf = firmware("hello")
    main = symbol_address(elf, "main") & ~1
    app = json.loads(ov.ok("apps", "upload", str(elf), "--json").output)
    with session_scope(cloud.service.sessions) as session:
        record_crash(session, device, _crash_report(main + 4, main), app_sid=app["sid"])
    records = [json.loads(line) for line in ov.ok("crashes", device, "--json").stdout.splitlines()]
    assert len(records) == 1
    assert records[0]["report"]["kind"] == "fault"
    assert records[0]["report"]["symbols"]["pc"].startswith("main+0x4")
    table = ov.ok("crashes", device).output
    assert "write to secure flash" in table
    assert "0x0c000000" in table
    assert "main+0x4" in table


def test_crashes_named_with_explicit_elf(
    ov: OvRunner, cloud: LocalCloud, provision: Callable[..., str]
) -> None:
    device = provision()
    with session_scope(cloud.service.sessions) as session:
        record_crash(session, device, _crash_report(0x0800_1050, 0x0800_14D1))
    plain = ov.ok("crashes", device).output
    assert "pass --elf APP.elf" in plain
    named = ov.ok("crashes", device, "--elf", str(example_elf("demo_v3")), "--json").stdout
    symbols = json.loads(named.splitlines()[0])["report"]["symbols"]
    assert symbols["pc"].startswith("main+0x")
    assert symbols["lr"].startswith("Reset_Handler+0x")
