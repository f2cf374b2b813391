"""Server and test logging, system notifications, restart, wake reason, LED and power."""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest

from openvisor.kernel.abi import MvEventType, MvStatus, MvSystemNotificationSource, MvWakeReason
from openvisor.kernel.calls.server_log import ServerLog
from openvisor.kernel.calls.system import SystemNotifications

LOG_BUFFER_OFFSET = 32 * 1024  # 512-aligned inside the 512-aligned arena


def init_logging(harness: Any, size: int = 1024) -> int:
    return harness.call("mvServerLoggingInit", harness.arena + LOG_BUFFER_OFFSET, size)


def log_text(harness: Any, text: bytes) -> int:
    message = harness.buffer(0, len(text) or 1)
    harness.write(message, text)
    return harness.call("mvServerLog", message, len(text))


def test_server_log_queues_messages(harness: Any) -> None:
    assert log_text(harness, b"early") == MvStatus.UNAVAILABLE
    assert init_logging(harness) == MvStatus.OKAY
    assert log_text(harness, b"hello from the app") == MvStatus.OKAY
    queue = harness.device.kernel.family_state(ServerLog)
    records = queue.take()
    assert [record.message for record in records] == [b"hello from the app"]
    assert records[0].micros > 0


@pytest.mark.parametrize(
    ("offset", "size", "status"),
    [
        (LOG_BUFFER_OFFSET + 4, 1024, MvStatus.INVALIDBUFFERALIGNMENT),
        (LOG_BUFFER_OFFSET, 512, MvStatus.INVALIDBUFFERSIZE),
        (LOG_BUFFER_OFFSET, 1500, MvStatus.INVALIDBUFFERSIZE),
    ],
)
def test_server_logging_init_rejects(harness: Any, offset: int, size: int, status: int) -> None:
    assert harness.call("mvServerLoggingInit", harness.arena + offset, size) == status
    assert log_text(harness, b"x") == MvStatus.UNAVAILABLE


def test_server_logging_init_bad_pointer(harness: Any) -> None:
    assert harness.call("mvServerLoggingInit", 0x0800_0000, 1024) == MvStatus.PARAMETERFAULT
    assert harness.call("mvServerLoggingInit", 0x2008_0000 - 512, 1024) == MvStatus.PARAMETERFAULT


def test_server_log_limits(harness: Any) -> None:
    assert init_logging(harness, 8192) == MvStatus.OKAY
    assert log_text(harness, b"x" * 1025) == MvStatus.LOGMESSAGETOOLONG
    assert harness.call("mvServerLog", 0x3000_0000, 4) == MvStatus.PARAMETERFAULT
    statuses = [log_text(harness, b"burst %d" % i) for i in range(60)]
    assert statuses[:50] == [MvStatus.OKAY] * 50
    assert set(statuses[50:]) == {MvStatus.INVALIDBUFFERSIZE}
    harness.device.run_for(1.0)
    assert log_text(harness, b"after a second") == MvStatus.OKAY


def test_server_log_buffer_fills_offline(harness: Any) -> None:
    assert init_logging(harness, 1024) == MvStatus.OKAY
    statuses = [log_text(harness, b"y" * 200) for _ in range(6)]
    assert statuses == [MvStatus.OKAY] * 4 + [MvStatus.INVALIDBUFFERSIZE] * 2
    harness.device.kernel.family_state(ServerLog).take(max_count=2)
    assert log_text(harness, b"y" * 200) == MvStatus.OKAY


def test_server_log_disabled_by_server(harness: Any) -> None:
    assert init_logging(harness) == MvStatus.OKAY
    harness.device.kernel.family_state(ServerLog).disabled_by_server = True
    assert log_text(harness, b"held") == MvStatus.LOGGINGDISABLEDBYSERVER


def test_unsent_logs_survive_a_new_process(make_harness: Any, tmp_path: Any) -> None:
    state_dir = tmp_path / "persist"
    harness = make_harness(state_dir)
    assert init_logging(harness) == MvStatus.OKAY
    assert log_text(harness, b"keep me") == MvStatus.OKAY
    harness.device.kernel.flush()
    saved = json.loads((state_dir / "kernel" / "server-logs.json").read_text())
    assert len(saved) == 1
    again = make_harness(state_dir)
    records = again.device.kernel.family_state(ServerLog).take()
    assert [record.message for record in records] == [b"keep me"]


def test_testing_calls_outside_test_mode(harness: Any) -> None:
    assert harness.call("mvTestingComplete", 0) == MvStatus.UNAVAILABLE
    assert harness.call("mvTestLoggingInit", harness.arena + LOG_BUFFER_OFFSET, 1024) == (
        MvStatus.UNAVAILABLE
    )
    message = harness.buffer(0, 4)
    assert harness.call("mvTestLog", message, 4) == MvStatus.UNAVAILABLE


def test_testing_calls_in_test_mode(make_harness: Any) -> None:
    harness = make_harness(factory_test=True)
    lines: list[str] = []
    harness.device.kernel.test_log_listeners.append(lines.append)
    message = harness.buffer(0, 9)
    harness.write(message, b"self test")
    assert harness.call("mvTestLog", message, 9) == MvStatus.UNAVAILABLE
    assert harness.call("mvTestLoggingInit", harness.arena + LOG_BUFFER_OFFSET, 1024) == 0
    assert harness.call("mvTestLog", message, 9) == MvStatus.OKAY
    assert harness.call("mvTestLog", message, 2000) == MvStatus.LOGMESSAGETOOLONG
    assert lines == ["self test"]
    harness.post("mvTestingComplete", 7)
    harness.device.run_for(0.01)
    assert harness.device.test_status == 7


def open_update_subscription(
    harness: Any, source: int = MvSystemNotificationSource.UPDATE
) -> tuple[int, int, int]:
    ring = harness.buffer(2048, 64)
    setup = harness.buffer(0, 12)
    harness.write(setup, struct.pack("<III", 51, ring, 64))
    centre_out = harness.buffer(64, 4)
    assert harness.call("mvSetupNotifications", setup, centre_out) == MvStatus.OKAY
    params = harness.buffer(128, 12)
    harness.write(params, struct.pack("<III", harness.read_u32(centre_out), 5, source))
    out = harness.buffer(192, 4)
    return harness.call("mvOpenSystemNotification", params, out), harness.read_u32(out), ring


def test_system_notification_update_event(harness: Any) -> None:
    status, handle, ring = open_update_subscription(harness)
    assert status == MvStatus.OKAY
    assert handle != 0
    notifications = harness.device.kernel.family_state(SystemNotifications)
    assert (
        notifications.emit(MvSystemNotificationSource.NETWORK, MvEventType.NETWORKSTATUSCHANGED)
        == 0
    )
    assert notifications.emit(MvSystemNotificationSource.UPDATE, MvEventType.UPDATEDOWNLOADED) == 1
    assert struct.unpack_from("<QII", harness.read(ring, 16))[1:] == (
        MvEventType.UPDATEDOWNLOADED,
        5,
    )
    slot = harness.buffer(256, 4)
    harness.write_u32(slot, handle)
    assert harness.call("mvCloseSystemNotification", slot) == MvStatus.OKAY
    assert harness.read_u32(slot) == 0
    harness.write_u32(slot, handle)
    assert harness.call("mvCloseSystemNotification", slot) == MvStatus.INVALIDHANDLE


def test_system_notification_rejects_bad_source_and_centre(harness: Any) -> None:
    status, handle, _ = open_update_subscription(harness, source=7)
    assert status == MvStatus.INVALIDHANDLE
    assert handle == 0
    params = harness.buffer(128, 12)
    harness.write(params, struct.pack("<III", 0xDEAD, 5, 0))
    assert harness.call("mvOpenSystemNotification", params, harness.buffer(192, 4)) == 7


def test_calls_from_interrupt_handler_are_unavailable(harness: Any) -> None:
    out = harness.buffer(0, 4, fill=b"\xee")
    assert harness.call("mvGetWakeReason", out, in_isr=True) == MvStatus.UNAVAILABLE
    assert harness.read(out, 1) == b"\xee"
    assert harness.call("mvSystemLedEnable", 1, in_isr=True) == MvStatus.UNAVAILABLE
    assert harness.call("mvNoOp", in_isr=True) == MvStatus.OKAY
    assert harness.call("mvGetWakeReason", out) == MvStatus.OKAY
    assert harness.read(out, 1) == bytes([MvWakeReason.COLDBOOT])


def test_led(harness: Any) -> None:
    changes: list[bool] = []
    harness.device.kernel.led_listeners.append(changes.append)
    assert harness.call("mvSystemLedEnable", 0) == MvStatus.OKAY
    assert harness.call("mvSystemLedEnable", 1) == MvStatus.OKAY
    assert harness.call("mvSystemLedEnable", 2) == MvStatus.PARAMETERFAULT
    assert changes == [False, True]


def test_restart_and_wake_reason(harness: Any) -> None:
    assert harness.call("mvRestart", 1) == MvStatus.PARAMETERFAULT
    boots = harness.device.boot_count
    harness.post("mvRestart", 0)
    harness.device.run_for(0.2, until=lambda: harness.device.boot_count > boots)
    assert harness.device.boot_count == boots + 1
    harness.settle()
    out = harness.buffer(0, 4)
    assert harness.call("mvGetWakeReason", out) == MvStatus.OKAY
    assert harness.read(out, 1) == bytes([MvWakeReason.REMOTEAPPLICATIONRESTART])


def test_power_save(harness: Any) -> None:
    for mode in range(5):
        assert harness.call("mvPowerSave", mode) == MvStatus.OKAY
    assert harness.call("mvPowerSave", 5) == MvStatus.PARAMETERFAULT
    harness.device.kernel.network_busy_probe = lambda: True
    assert harness.call("mvPowerSave", 0) == MvStatus.MICROVISORBUSY
    assert harness.call("mvDeepSleep", 0) == MvStatus.MICROVISORBUSY


@pytest.mark.parametrize(
    ("mode", "wake"), [(0, MvWakeReason.DEEPSLEEPCHECKIN), (1, MvWakeReason.COLDBOOT)]
)
def test_deep_sleep_fast_forwards(harness: Any, mode: int, wake: MvWakeReason) -> None:
    assert harness.call("mvDeepSleep", 2) == MvStatus.PARAMETERFAULT
    before = harness.device.kernel.micros()
    boots = harness.device.boot_count
    harness.post("mvDeepSleep", mode)
    harness.device.run_for(61.0)
    assert harness.device.boot_count == boots + 1
    assert harness.device.kernel.micros() - before >= 60_000_000
    harness.settle()
    out = harness.buffer(0, 4)
    assert harness.call("mvGetWakeReason", out) == MvStatus.OKAY
    assert harness.read(out, 1) == bytes([wake])
