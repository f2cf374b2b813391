"""An app that resets itself at every boot is held back in virtual time, not host time."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openvisor.device import AppImage, Device, DeviceConfig, DeviceState
from openvisor.device.device import FREE_QUICK_RESTARTS
from openvisor.kernel.abi import CALL_ADDRESSES, MvRestartMode, MvWakeReason


def test_reset_loop_bounded_host_time(firmware: Callable[[str], Path], tmp_path: Path) -> None:
    elf = firmware("x_reset_loop")
    device = Device(tmp_path / "dev", image=AppImage.from_path(elf), config=DeviceConfig(seed=7))
    boots: list[tuple[int, int, MvWakeReason]] = []
    device.boot_listeners.append(
        lambda count, wake: boots.append((count, device.kernel.micros(), wake))
    )
    started = time.monotonic()
    device.boot()
    state = device.run_for(5.0)
    elapsed = time.monotonic() - started

    assert elapsed < 20.0, f"5 s of a reset loop took {elapsed:.1f} s of host time"
    assert state is DeviceState.WAITING_RESTART
    # The first restarts are immediate. Then the back-off waits 1 s and 2 s, and the
    # 4 s wait that follows runs past the end of the 5 s.
    assert device.boot_count == FREE_QUICK_RESTARTS + 3
    starts = [micros for _, micros, _ in boots]
    immediate = starts[: FREE_QUICK_RESTARTS + 1]
    assert immediate[-1] - immediate[0] < 10_000
    delayed_starts = starts[FREE_QUICK_RESTARTS:]
    gaps = [later - earlier for earlier, later in itertools.pairwise(delayed_starts)]
    assert [round(gap / 1_000_000) for gap in gaps] == [1, 2]
    assert {wake for _, _, wake in boots[1:]} == {MvWakeReason.COLDBOOT}
    assert not device.crash_log.reports


def test_mv_restart_loop_held_back(attacker: Any) -> None:
    device = attacker.device
    starts: list[int] = []
    for _ in range(FREE_QUICK_RESTARTS + 2):
        boots = device.boot_count
        attacker.post("call", CALL_ADDRESSES["mvRestart"] | 1, MvRestartMode.AUTOAPPLYUPDATE)
        device.run_for(3.0, until=lambda boots=boots: device.boot_count > boots)
        assert device.boot_count == boots + 1
        starts.append(device.kernel.micros())
        attacker.settle()

    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    # The first quick restarts are immediate, later ones wait 1 s, then 2 s.
    assert all(gap < 100_000 for gap in gaps[: FREE_QUICK_RESTARTS - 1])
    assert [round(gap / 1_000_000) for gap in gaps[FREE_QUICK_RESTARTS - 1 :]] == [1, 2]
    assert attacker.crashes == []
