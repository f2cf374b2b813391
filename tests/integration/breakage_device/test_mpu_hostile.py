"""Hostile privilege and MPU sequences from x_mpu_hostile, on the native and Python paths."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from openvisor.machine import Machine, RunReason

IACCVIOL = 1
NOT_RUN = 0xDEAD  # the value call_code returns when the call was denied


def _run(elf: Path, *, native: bool) -> dict[str, int]:
    machine = Machine()
    machine._native_exceptions = native
    machine.load_elf(elf)
    machine.reset()

    def stop_at_done(source: str, text: str) -> None:
        if text == "hostile done":
            machine.request_stop()

    machine.peripherals.on_console(stop_at_done)
    result = machine.run(max_cycles=5_000_000)
    assert result.reason is RunReason.STOP, (result, machine.peripherals.console)
    values = {}
    for line in machine.peripherals.console:
        key, sep, value = line.partition("=")
        if sep:
            values[key] = int(value, 16)
    return values


@pytest.fixture(scope="module", params=[True, False], ids=["native", "python"])
def values(request: pytest.FixtureRequest, firmware: Callable[[str], Path]) -> dict[str, int]:
    return _run(firmware("x_mpu_hostile"), native=request.param)


def test_alias_a1_reaches_rnr_region(values: dict[str, int]) -> None:
    assert values["alias_a1_region1_rbar"] == 0x2001_0002
    assert values["alias_a1_region2_rbar"] == 0


def test_alias_a3_keeps_region_zero(values: dict[str, int]) -> None:
    assert values["alias_a3_region7_rlar"] == 0x2002_00E0
    assert values["alias_a3_region0_rlar"] == 0


def test_alias_a2_reads_rnr_group(values: dict[str, int]) -> None:
    # RNR = 4: alias 2 is region 6.
    assert values["alias_a2_read_rnr4"] == 0x2003_0006


def test_handler_cpsid_after_unprivileged_thread(values: dict[str, int]) -> None:
    assert values["handler_primask"] == 1


def test_privileged_code_runs_privileged(values: dict[str, int]) -> None:
    assert values["exec_privileged"] == 42
    assert values["exec_privileged_again"] == 42


def test_privileged_code_denied_after_drop(values: dict[str, int]) -> None:
    assert values["exec_unprivileged"] == NOT_RUN
    assert values["exec_unprivileged_faults"] == 1
    assert values["exec_unprivileged_cfsr"] & IACCVIOL


def test_rewritten_code_runs_new_instructions(values: dict[str, int]) -> None:
    # The code sits in a page the MPU restricts, where the native protection
    # hook performs the stores.
    assert values["exec_rewritten"] == 43


def test_hardfault_runs_execute_never_code(values: dict[str, int]) -> None:
    # HFNMIENA is clear, so HardFault ignores the MPU.
    assert values["exec_xn_in_hardfault"] == 44


def test_execute_never_denied_after_hardfault(values: dict[str, int]) -> None:
    # The block HardFault translated must not serve privileged Thread mode.
    assert values["exec_xn_after_hardfault"] == NOT_RUN
    assert values["exec_xn_after_hardfault_faults"] == 1


def test_hardfault_runs_whole_xn_region(values: dict[str, int]) -> None:
    # One region covers all of SRAM, so no SRAM page has the native hook
    # until HardFault fetches from it.
    assert values["exec_xn_whole_in_hardfault"] == 44
    assert values["exec_xn_whole_after_hardfault"] == NOT_RUN
    assert values["exec_xn_whole_after_hardfault_faults"] == 1
