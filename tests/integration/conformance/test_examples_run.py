"""The SDK's example applications on a virtual device: what each logs and does."""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable
from typing import Any

import pytest

from openvisor.device import DeviceState
from openvisor.kernel.abi import MvEventType, MvSystemNotificationSource
from openvisor.kernel.calls.system import SystemNotifications
from openvisor.link.messages import (
    ConfigFetchRequest,
    ConfigFetchResponse,
    ConfigItem,
    HttpRequest,
    HttpResponse,
    Message,
)

RunFirmware = Callable[..., Any]


def _lines_with(logs: list[str], text: str) -> list[str]:
    return [line for line in logs if text in line]


def test_blink_logs_and_toggles_led(run_firmware: RunFirmware) -> None:
    run = run_firmware("app_blink")
    run.device.run_for(2.2)
    assert run.device.state is DeviceState.RUNNING
    assert run.server_logs[0] == "app_blink started, system clock 160000000 Hz"
    assert run.server_logs[1:5] == [
        "blink 1: LED on",
        "blink 1: LED off",
        "blink 2: LED on",
        "blink 2: LED off",
    ]
    assert run.server_logs[-1] == "blink 3: LED on"
    changes = run.led_changes_ms()
    assert [level for _, level in changes] == [1, 0, 1, 0, 1]
    intervals = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(changes)]
    assert all(499 <= interval <= 501 for interval in intervals), intervals


def test_crash_app_restarts_after_crash(run_firmware: RunFirmware) -> None:
    run = run_firmware("app_crash")
    run.device.run_for(3.0)
    assert run.server_logs[0] == "app_crash started (wake reason 0)"
    assert "app_crash restarted after a crash (wake reason 8)" in run.server_logs
    assert _lines_with(run.server_logs, "the faulting write returned") == []
    assert run.device.boot_count >= 2
    report = run.device.crash_log.reports[0]
    assert report.fault_address == 0x0C00_0000
    assert report.access == "write"
    assert report.symbols["pc"].startswith("write_secure_flash")


# v1: on 500 ms, off 500 ms. v2: a double flash each second (100 on, 150 off,
# 100 on, 650 off).
DEMO_BLINKS = {1: [500, 500, 500, 500], 2: [100, 150, 100, 650]}


@pytest.mark.parametrize("version", sorted(DEMO_BLINKS))
def test_demo_version_logs_and_blinks(run_firmware: RunFirmware, version: int) -> None:
    run = run_firmware(f"demo_v{version}")
    run.device.run_for(5.2)
    assert run.server_logs[0] == f"demo v{version} starting (wake reason 0)"
    assert f"demo v{version} alive, uptime 5 s" in run.server_logs
    assert _lines_with(run.server_logs, "unavailable") == []
    changes = run.led_changes_ms()
    intervals = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(changes)]
    assert len(intervals) >= 8, changes
    for interval, expected in zip(intervals, DEMO_BLINKS[version] * 2, strict=False):
        assert abs(interval - expected) <= 1, intervals


def test_demo_restarts_when_update_downloaded(run_firmware: RunFirmware) -> None:
    run = run_firmware("demo_v1")
    run.device.run_for(0.5)
    notifications = run.device.kernel.family_state(SystemNotifications)
    delivered = notifications.emit(MvSystemNotificationSource.UPDATE, MvEventType.UPDATEDOWNLOADED)
    assert delivered == 1
    run.device.run_for(2.0)
    assert "demo v1: update downloaded, restarting to apply it" in run.server_logs
    assert run.device.boot_count == 2
    assert run.server_logs.count("demo v1 starting (wake reason 0)") == 1


def test_demo_v3_crashes_at_start(run_firmware: RunFirmware) -> None:
    run = run_firmware("demo_v3")
    run.device.run_for(0.5)
    assert run.server_logs[0] == "demo v3 starting"
    assert _lines_with(run.server_logs, "still running") == []
    assert run.device.crash_log.reports[0].fault_address == 0x0C00_0000


def test_netdemo_fetches_config_and_gets_url(run_firmware: RunFirmware) -> None:
    requests: list[Message] = []

    def cloud(run: Any, device_id: str, message: Message) -> None:
        if isinstance(message, ConfigFetchRequest):
            requests.append(message)
            values = {"netdemo-url": b"https://127.0.0.1/hello", "netdemo-token": b"t0ken"}
            items = tuple(ConfigItem(result=0, value=values[key.key]) for key in message.keys)
            run.service.send(device_id, ConfigFetchResponse(channel=message.channel, items=items))
        elif isinstance(message, HttpRequest):
            requests.append(message)
            run.service.send(
                device_id,
                HttpResponse(
                    channel=message.channel,
                    result=0,
                    status_code=200,
                    headers=(b"Content-Type: text/plain",),
                    body=b"hello from the test cloud",
                ),
            )

    run = run_firmware("app_netdemo", factory_test=True, on_message=cloud)
    run.device.run_for(60.0)
    assert run.device.state is DeviceState.FINISHED
    assert run.device.test_status == 0, run.server_logs
    fetch, get = requests
    assert [(key.scope, key.store, key.key) for key in fetch.keys] == [
        (1, 1, "netdemo-url"),
        (0, 0, "netdemo-token"),
    ]
    assert (get.method, get.url) == ("GET", "https://127.0.0.1/hello")
    assert b"Authorization: Bearer t0ken" in get.headers
    assert "netdemo: config netdemo-url=https://127.0.0.1/hello" in run.server_logs
    assert "netdemo: secret netdemo-token has 5 bytes" in run.server_logs
    assert _lines_with(run.server_logs, "t0ken") == []
    assert (
        "netdemo: GET https://127.0.0.1/hello -> 200, 25 body bytes: hello from the test cloud"
        in run.server_logs
    )


def test_debug_example_counts_and_faults(run_firmware: RunFirmware) -> None:
    run = run_firmware("dbg_example")
    run.device.run_for(0.05)
    counter, _ = run.symbol("g_counter")
    ticks, _ = run.symbol("g_ticks")
    request, _ = run.symbol("g_fault_request")
    assert run.read_u32(counter) > 0
    assert 40 <= run.read_u32(ticks) <= 60
    run.device.machine.mem_write(request, struct.pack("<I", 1))
    run.device.run_for(0.01)
    report = run.device.crash_log.reports[0]
    assert report.fault_address == 0x0C00_0000
    assert report.symbols["pc"].startswith("fault_now")
