"""RTC wake-up timer and alarm A from compiled firmware (k_rtc): power save and deep sleep.

k_rtc prints one "key=value" line per event on USART2; its scenario comes from
input pins PC0-PC1 (see firmware/apps/k_rtc/main.c).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from openvisor.device import AppImage, Device, DeviceConfig, DeviceState
from openvisor.kernel.abi import MvWakeReason

RTCCLK_TICK_US = 31  # one LSE period (30.5 µs) rounded up
CR_ARMED_WAKEUP_5S = 0x4404  # WUTIE, WUTE, WUCKSEL = 4 (ck_spre)
SR_WUTF = 0x4
SR_ALRAF = 0x1


class RtcApp:
    """A device running k_rtc with its console lines parsed."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.lines: list[tuple[str, dict[str, int]]] = []

    def record(self, source: str, line: str) -> None:
        words = line.split()
        fields = {}
        for word in words[1:]:
            key, _, value = word.partition("=")
            fields[key] = int(value, 0)
        self.lines.append((words[0], fields))

    def events(self, kind: str) -> list[dict[str, int]]:
        return [fields for name, fields in self.lines if name == kind]


@pytest.fixture
def start_rtc_app(tmp_path: Path, firmware: Callable[[str], Path]) -> Callable[..., RtcApp]:
    """Return a factory booting k_rtc in ``scenario`` on a device (``DeviceConfig`` kwargs)."""
    elf = firmware("k_rtc")

    def start(scenario: int, state_dir: Path | None = None, **config: Any) -> RtcApp:
        config.setdefault("seed", 99)
        device = Device(
            state_dir or tmp_path / "device",
            image=AppImage.from_path(elf),
            config=DeviceConfig(**config),
        )
        app = RtcApp(device)

        def attach(machine: Any) -> None:
            for pin in range(2):
                machine.peripherals.gpio["C"].set_input(pin, (scenario >> pin) & 1)
            machine.peripherals.on_console(app.record)

        device.machine_listeners.append(attach)
        device.boot()
        return app

    return start


def test_power_save_wakes_on_wakeup_timer(start_rtc_app: Callable[..., RtcApp]) -> None:
    app = start_rtc_app(0)
    app.device.run_for(3.5)
    armed_us = app.events("armed")[0]["us"]
    wakeups = app.events("wakeup")
    assert [event["n"] for event in wakeups] == [1, 2, 3]
    assert 0 < wakeups[0]["us"] - armed_us <= 1_000_000
    assert wakeups[0]["us"] - armed_us >= 1_000_000 - RTCCLK_TICK_US
    for earlier, later in itertools.pairwise(wakeups):
        assert later["us"] - earlier["us"] == pytest.approx(1_000_000, abs=RTCCLK_TICK_US)
        assert (later["tr"] & 0x7F) != (earlier["tr"] & 0x7F), "the calendar seconds advance"


def test_deep_sleep_wakes_on_wakeup_timer(start_rtc_app: Callable[..., RtcApp]) -> None:
    app = start_rtc_app(0)
    app.device.run_for(9.0)
    sleep = app.events("sleep")[0]
    boots = app.events("boot")
    assert [boot["reason"] for boot in boots] == [0, MvWakeReason.DEEPSLEEPAPPLICATIONRTC]
    assert sleep["cr"] == CR_ARMED_WAKEUP_5S
    asleep_us = boots[1]["us"] - sleep["us"]
    assert 5_000_000 - RTCCLK_TICK_US <= asleep_us <= 5_000_000 + 100
    assert boots[1]["cr"] == CR_ARMED_WAKEUP_5S, "the wake-up configuration survives STANDBY"
    assert boots[1]["wutr"] == 4
    assert boots[1]["sr"] & SR_WUTF
    assert app.events("woken")


def test_deep_sleep_wakes_on_alarm_a(start_rtc_app: Callable[..., RtcApp]) -> None:
    app = start_rtc_app(1)
    app.device.run_for(31.0)
    armed_us = app.events("armed")[0]["us"]
    alarm = app.events("alarm")[0]
    assert alarm["tr"] == 0x0012_0010
    assert alarm["us"] - armed_us == pytest.approx(10_000_000, abs=RTCCLK_TICK_US)
    boots = app.events("boot")
    assert [boot["reason"] for boot in boots] == [0, MvWakeReason.DEEPSLEEPAPPLICATIONRTC]
    assert boots[1]["tr"] == 0x0012_0030
    assert boots[1]["dr"] == 0x0024_C601
    assert boots[1]["sr"] & SR_ALRAF
    assert boots[1]["us"] - alarm["us"] == pytest.approx(20_000_000, abs=100)


def test_deep_sleep_checkin_comes_first(start_rtc_app: Callable[..., RtcApp]) -> None:
    app = start_rtc_app(2, deep_sleep_wake_s=3.0)
    app.device.run_for(4.0)
    sleep = app.events("sleep")[0]
    boots = app.events("boot")
    assert [boot["reason"] for boot in boots] == [0, MvWakeReason.DEEPSLEEPCHECKIN]
    assert boots[1]["us"] - sleep["us"] == pytest.approx(3_000_000, abs=100)
    assert boots[1]["sr"] & SR_WUTF == 0, "the 100 s wake-up timer has not fired"


def test_shutdown_wakes_as_coldboot(start_rtc_app: Callable[..., RtcApp]) -> None:
    app = start_rtc_app(3)
    app.device.run_for(3.0)
    sleep = app.events("sleep")[0]
    boots = app.events("boot")
    assert [boot["reason"] for boot in boots] == [0, MvWakeReason.COLDBOOT]
    assert boots[1]["us"] - sleep["us"] == pytest.approx(2_000_000, abs=RTCCLK_TICK_US + 100)
    assert boots[1]["wutr"] == 1


def test_rtc_survives_process_restart(start_rtc_app: Callable[..., RtcApp], tmp_path: Path) -> None:
    state_dir = tmp_path / "persisted"
    first = start_rtc_app(0, state_dir=state_dir)
    first.device.run_for(3.5, until=lambda: first.device.state is DeviceState.WAITING_RESTART)
    assert first.events("sleep")
    calendar_tr = first.events("sleep")[0]["tr"]

    second = start_rtc_app(0, state_dir=state_dir)
    second.device.run_for(0.01)
    boot = second.events("boot")[0]
    assert boot["reason"] == MvWakeReason.DEEPSLEEPAPPLICATIONRTC
    assert boot["cr"] == CR_ARMED_WAKEUP_5S
    assert boot["wutr"] == 4
    assert boot["tr"] == calendar_tr
    assert second.events("woken")


def test_deep_sleep_clears_sram(make_harness: Any) -> None:
    harness = make_harness(deep_sleep_wake_s=0.5)
    marker_address = 0x2004_0000  # above the harness's data, below its stack
    harness.write(marker_address, b"KEEP")
    harness.post("mvDeepSleep", 0)
    harness.device.run_for(0.6)
    assert harness.device.boot_count == 2
    assert harness.read(marker_address, 4) == b"\x00\x00\x00\x00"


def test_rtc_calendar_set_by_first_sync(make_harness: Any) -> None:
    harness = make_harness(wall_time_from_host=False)
    rtc_tr, rtc_dr = 0x4600_7800, 0x4600_7804
    assert harness.machine.bus_read(rtc_dr) == 0x0000_2101, "2000-01-01 before any time sync"
    moment = datetime(2026, 12, 4, 19, 30, 15, tzinfo=UTC)
    harness.device.kernel.sync_wall_time(int(moment.timestamp()) * 1_000_000)
    harness.settle(1_000)
    assert harness.machine.bus_read(rtc_tr) == 0x0019_3015
    assert harness.machine.bus_read(rtc_dr) == 0x0026_B204
    later = moment.timestamp() + 3 * 3600
    harness.device.kernel.sync_wall_time(int(later) * 1_000_000)
    harness.settle(1_000)
    assert harness.machine.bus_read(rtc_tr) >> 16 == 0x19, "later syncs leave the calendar"
