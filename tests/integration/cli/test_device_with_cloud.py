"""A cloud and a running device on an in-memory device link: `ov restart`, log times."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from openvisor.cli.local import LocalCloud
from openvisor.cloud.db import session_scope
from openvisor.cloud.models import LogEntry
from openvisor.device import AppImage, Device, DeviceState
from openvisor.kernel.abi import MvStatus, MvWakeReason
from openvisor.kernel.calls.server_log import ServerLog
from openvisor.link import messages as msg
from openvisor.link.memory import MemoryHub

if TYPE_CHECKING:
    from conftest import OvRunner


@pytest.fixture(scope="module")
def cloud(linked_cloud: LocalCloud) -> LocalCloud:
    """The module's cloud, serving devices over the in-memory device link."""
    return linked_cloud


def _run_until(
    device: Device, done: Callable[[], bool], condition: str, timeout_s: float = 10.0
) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, (
            f"timed out after {timeout_s} s waiting until {condition}"
        )
        device.step()
        time.sleep(0.001)


def test_restart_reboots_app_remotely(
    ov: OvRunner,
    hub: MemoryHub,
    provision: Callable[..., str],
    firmware: Callable[[str], Path],
    symbol_address: Callable[[Path, str], int],
    tmp_path: Path,
) -> None:
    sid = provision()
    elf = firmware("k_wake_reason")
    reason_address = symbol_address(elf, "last_wake_reason")
    status_address = symbol_address(elf, "last_wake_status")
    link = hub.device_link(sid)
    device = Device(tmp_path / "device", image=AppImage.from_path(elf), link=link, device_id=sid)
    boots: list[tuple[int, MvWakeReason]] = []
    device.boot_listeners.append(lambda count, wake: boots.append((count, wake)))

    def read_u32(address: int) -> int:
        return int.from_bytes(device.machine.mem_read(address, 4), "little")

    link.start()
    try:
        device.boot()
        _run_until(
            device,
            lambda: device.state is DeviceState.RUNNING and link.online,
            "the app runs and the link is up",
        )
        _run_until(
            device,
            lambda: read_u32(status_address) == MvStatus.OKAY,
            "the app read its wake reason",
        )
        assert read_u32(reason_address) == MvWakeReason.COLDBOOT
        assert len(boots) == 1

        assert f"Restart requested for {sid}" in ov.ok("restart", sid).output
        _run_until(device, lambda: len(boots) == 2, "the app boots a second time")
        for _ in range(4):
            device.step()

        assert read_u32(status_address) == MvStatus.OKAY

        assert boots[1][1] is MvWakeReason.REMOTEAPPLICATIONRESTART
        assert read_u32(reason_address) == MvWakeReason.REMOTEAPPLICATIONRESTART
        assert device.state is DeviceState.RUNNING
    finally:
        link.stop()


TICK = timedelta(milliseconds=100)  # k_log_ticks logs one line per 100 ms of virtual time


def _stored_logs(cloud: LocalCloud, sid: str) -> list[tuple[str, datetime, datetime]]:
    with session_scope(cloud.service.sessions) as session:
        rows = session.scalars(
            select(LogEntry).where(LogEntry.device_sid == sid).order_by(LogEntry.seq)
        )
        return [(row.message, row.date_logged, row.date_received) for row in rows]


def test_logs_keep_device_time_across_link_down(
    cloud: LocalCloud,
    hub: MemoryHub,
    provision: Callable[..., str],
    firmware: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    sid = provision()
    link = hub.device_link(sid)
    device = Device(
        tmp_path / "device",
        image=AppImage.from_path(firmware("k_log_ticks")),
        link=link,
        device_id=sid,
    )
    server_log = device.kernel.family_state(ServerLog)
    link.start()
    try:
        device.boot()
        _run_until(
            device,
            lambda: link.online and device.kernel.wall_time_us() is not None,
            "the link is up and wall time is synced",
        )
        _run_until(device, lambda: len(_stored_logs(cloud, sid)) >= 3, "three lines are stored")

        hub.set_reachable(sid, False)
        for _ in range(20):  # 1 s of virtual time: 20 slices of 50 ms
            device.step()
        queued_offline = server_log.pending()
        assert queued_offline >= 8

        stored_before = len(_stored_logs(cloud, sid))
        hub.set_reachable(sid, True)
        _run_until(
            device,
            lambda: len(_stored_logs(cloud, sid)) >= stored_before + queued_offline,
            "the lines logged offline are stored",
        )
    finally:
        link.stop()

    stored = _stored_logs(cloud, sid)
    ticks = [int(message.removeprefix("tick ")) for message, _, _ in stored]
    assert ticks == list(range(ticks[0], ticks[0] + len(ticks)))
    offline = stored[stored_before : stored_before + queued_offline]
    # The lines sent in one batch after the outage keep their own logging times.
    assert len({received for _, _, received in offline}) < len(offline)
    for (_, earlier, _), (_, later, _) in itertools.pairwise(stored):
        assert abs((later - earlier) - TICK) <= timedelta(milliseconds=1)


def test_logs_dated_by_age_without_wall_time(
    cloud: LocalCloud, hub: MemoryHub, provision: Callable[..., str]
) -> None:
    sid = provision()
    link = hub.device_link(sid)
    link.start()
    try:
        records = (
            msg.LogRecord(seq=(1 << 32) + 1, micros=1_000_000, text=b"old line"),
            msg.LogRecord(seq=(1 << 32) + 2, micros=3_000_000, text=b"new line"),
        )
        link.send(msg.LogBatch(records=records, sent_micros=4_000_000))
    finally:
        link.stop()
    (old, old_logged, old_received), (new, new_logged, _) = _stored_logs(cloud, sid)
    assert (old, new) == ("old line", "new line")
    assert new_logged - old_logged == timedelta(seconds=2)
    assert old_received - old_logged == timedelta(seconds=3)
