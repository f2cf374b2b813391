"""The fixed virtual cost of a gateway call, seen by an app that polls mvGetMicroseconds.

firmware/apps/k_busy_wait polls mvGetMicroseconds until 0.5 s have passed and
stores how many calls that took. Each call costs GATEWAY_CALL_CYCLES on top of
the loop's own instructions, so the wait ends after about 0.5 s of virtual time
and at most one call per virtual microsecond.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from openvisor.device import AppImage, Device, DeviceConfig, DeviceState
from openvisor.errors import EmulationError
from openvisor.machine import GATEWAY_CALL_CYCLES, Machine

WAIT_US = 500_000
CLOCK_MHZ = 160


def _symbols(elf: Path) -> dict[str, int]:
    with elf.open("rb") as stream:
        table = ELFFile(stream).get_section_by_name(".symtab")
        assert isinstance(table, SymbolTableSection)
        return {symbol.name: int(symbol["st_value"]) for symbol in table.iter_symbols()}


def _run_busy_wait(tmp_path: Path, elf: Path, config: DeviceConfig) -> dict[str, int]:
    symbols = _symbols(elf)
    device = Device(
        tmp_path, image=AppImage.from_path(elf), config=config, device_id="UV" + "b" * 32
    )
    device.boot()

    def read(name: str, fmt: str) -> int:
        data = bytes(device.machine.mem_read(symbols[name], struct.calcsize(fmt)))
        return int(struct.unpack(fmt, data)[0])

    for _ in range(100):
        device.step()
        assert device.state is DeviceState.RUNNING
        if read("busy_wait_done", "<I"):
            break
    assert read("busy_wait_done", "<I") == 1, "the busy-wait did not finish in 5 virtual s"
    return {
        "calls": read("busy_wait_calls", "<I"),
        "start_us": read("busy_wait_start_us", "<Q"),
        "end_us": read("busy_wait_end_us", "<Q"),
        "now_us": device.kernel.micros(),
    }


def test_busy_wait_lasts_half_second(tmp_path: Path, firmware: Callable[[str], Path]) -> None:
    result = _run_busy_wait(tmp_path, firmware("k_busy_wait"), DeviceConfig())
    elapsed_us = result["end_us"] - result["start_us"]
    assert WAIT_US <= elapsed_us <= WAIT_US + 2
    # The device's own clock agrees: the wait ended within one slice of its return.
    assert result["end_us"] <= result["now_us"] <= result["end_us"] + DeviceConfig().slice_us
    # Each call costs at least 1 µs, and the loop around it is only a few instructions.
    assert result["calls"] <= WAIT_US * CLOCK_MHZ // GATEWAY_CALL_CYCLES
    assert result["calls"] >= WAIT_US * CLOCK_MHZ // (GATEWAY_CALL_CYCLES + 40)


def test_call_cost_is_configurable(tmp_path: Path, firmware: Callable[[str], Path]) -> None:
    config = DeviceConfig(gateway_call_cycles=16 * GATEWAY_CALL_CYCLES)
    result = _run_busy_wait(tmp_path, firmware("k_busy_wait"), config)
    assert WAIT_US <= result["end_us"] - result["start_us"] <= WAIT_US + 20
    assert result["calls"] <= WAIT_US * CLOCK_MHZ // (16 * GATEWAY_CALL_CYCLES)
    assert result["calls"] >= WAIT_US * CLOCK_MHZ // (16 * GATEWAY_CALL_CYCLES + 40)


def test_negative_call_cost_rejected() -> None:
    with pytest.raises(EmulationError, match="invalid gateway_call_cycles -1"):
        Machine(gateway_call_cycles=-1)
