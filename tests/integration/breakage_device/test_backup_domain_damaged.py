"""A damaged kernel/backup-domain.json or pending-wake.json: the next process still boots the app.

k_rtc (scenario 0) deep sleeps on its wake-up timer, and the process stops
during the sleep. Each test damages the saved RTC state and starts a new
process on the same state directory.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from openvisor.device import AppImage, Device, DeviceConfig, DeviceState
from openvisor.device.backup import BACKUP_STATE_FILE
from openvisor.device.device import WAKE_STATE_FILE
from openvisor.kernel.abi import MvWakeReason


def _replace(**fields: Any) -> Callable[[str], bytes]:
    def damage(saved: str) -> bytes:
        return json.dumps({**json.loads(saved), **fields}).encode()

    return damage


DAMAGES: dict[str, Callable[[str], bytes]] = {
    "truncated": lambda saved: saved[: len(saved) // 2].encode(),
    "empty": lambda saved: b"",
    "binary": lambda saved: b"\xff\xfe\x00\x81garbage",
    "not-an-object": lambda saved: b"[1, 2, 3]",
    "registers-not-an-object": _replace(registers=[1, 2]),
    "register-not-a-number": _replace(registers={"0x18": "abc"}),
    "calendar-huge": _replace(calendar_apre=10**30),
    "calendar-negative": _replace(calendar_apre=-(10**12)),
    "calendar-infinite": lambda saved: saved.replace(
        f'"calendar_apre": {json.loads(saved)["calendar_apre"]}', '"calendar_apre": Infinity'
    ).encode(),
    "wakeup-negative": _replace(wakeup_in_ticks=-5),
    "wakeup-huge": _replace(wakeup_in_ticks=10**30),
}


@pytest.fixture(scope="module")
def asleep_state(tmp_path_factory: pytest.TempPathFactory, firmware: Callable[[str], Path]) -> Path:
    """A state directory left by a process that stopped while k_rtc was in deep sleep."""
    state_dir = tmp_path_factory.mktemp("asleep") / "device"
    device = _device(state_dir, firmware("k_rtc"))
    device.boot()
    device.run_for(3.5, until=lambda: device.state is DeviceState.WAITING_RESTART)
    assert device.state is DeviceState.WAITING_RESTART
    assert (state_dir / BACKUP_STATE_FILE).exists()
    return state_dir


def _device(state_dir: Path, elf: Path) -> Device:
    device = Device(state_dir, image=AppImage.from_path(elf), config=DeviceConfig(seed=99))

    def attach(machine: Any) -> None:
        for pin in range(2):
            machine.peripherals.gpio["C"].set_input(pin, 0)

    device.machine_listeners.append(attach)
    return device


def _boot_briefly(state_dir: Path, elf: Path) -> tuple[Device, list[str]]:
    """Boot a new process on ``state_dir`` for 50 ms and collect its console lines."""
    device = _device(state_dir, elf)
    lines: list[str] = []
    device.machine_listeners.append(
        lambda machine: machine.peripherals.on_console(lambda source, line: lines.append(line))
    )
    device.boot()
    device.run_for(0.05)
    return device, lines


@pytest.mark.parametrize("damage", list(DAMAGES), ids=list(DAMAGES))
def test_damaged_backup_domain_boots_app(
    damage: str,
    asleep_state: Path,
    tmp_path: Path,
    firmware: Callable[[str], Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    state_dir = tmp_path / "device"
    shutil.copytree(asleep_state, state_dir)
    path = state_dir / BACKUP_STATE_FILE
    path.write_bytes(DAMAGES[damage](path.read_text()))

    with caplog.at_level(logging.WARNING, logger="openvisor.device.backup"):
        device, lines = _boot_briefly(state_dir, firmware("k_rtc"))

    assert device.state is DeviceState.RUNNING
    assert device.boot_count == 1
    assert lines, "the app printed nothing"
    assert lines[0].startswith(f"boot reason={int(MvWakeReason.DEEPSLEEPAPPLICATIONRTC)} ")
    warnings = [record.getMessage() for record in caplog.records]
    assert any(str(path) in message for message in warnings), warnings
    rtc = device.machine.peripherals.rtc
    # The RTC started from power-on: a calendar from the host's wall time, no wake-up armed.
    assert "cr=0x00000000" in lines[0]
    assert 2000 <= rtc.calendar_seconds() // (365 * 86_400) + 2000 < 2100


@pytest.mark.parametrize("content", [b"", b'{"wake_reason": "DEEPSLEEP', b"\xff\x00"])
def test_damaged_pending_wake_boots_app(
    content: bytes,
    asleep_state: Path,
    tmp_path: Path,
    firmware: Callable[[str], Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A damaged kernel/pending-wake.json loses the wake reason, not the boot."""
    state_dir = tmp_path / "device"
    shutil.copytree(asleep_state, state_dir)
    path = state_dir / WAKE_STATE_FILE
    path.write_bytes(content)

    with caplog.at_level(logging.ERROR, logger="openvisor.device.device"):
        device, lines = _boot_briefly(state_dir, firmware("k_rtc"))

    assert device.state is DeviceState.RUNNING
    assert device.boot_count == 1
    assert lines, "the app printed nothing"
    # A cold boot: the wake reason and the saved RTC state are not used, so the
    # RTC starts from power-on and the app finds no wake-up timer armed.
    assert lines[0].startswith(f"boot reason={int(MvWakeReason.COLDBOOT)} ")
    assert "cr=0x00000000" in lines[0]
    errors = [record.getMessage() for record in caplog.records]
    assert any(str(path) in message for message in errors), errors
