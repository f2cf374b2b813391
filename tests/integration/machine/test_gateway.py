"""Calls into the gateway reach the handler, return status in R0 and resume at LR."""

from __future__ import annotations

import struct
from collections.abc import Callable

from openvisor.machine import FaultKind, Machine, RunReason, RunResult

Values = Callable[[Machine], dict[str, str]]


def test_gateway_calls_reach_handler(boot: Callable[..., Machine], console_values: Values) -> None:
    machine = boot("bm_gateway")
    calls: list[tuple[int, int, int]] = []

    def handler(target: Machine, address: int) -> int:
        calls.append((address, target.reg_read("r0"), target.reg_read("r1")))
        if address == 0x0C1F_E010:
            target.mem_write(target.reg_read("r0"), struct.pack("<Q", 987_654))
            return 0
        if address == 0x0C1F_E028:
            target.mem_write(target.reg_read("r0"), bytes([0x41] * target.reg_read("r1")))
            return 0
        return 10

    machine.gateway_handler = handler
    result = machine.run(max_cycles=10_000_000)
    assert [address for address, _, _ in calls] == [0x0C1F_E010, 0x0C1F_E028, 0x0C1F_E0D8]
    assert calls[1][2] == 8
    values = console_values(machine)
    assert values["micros_status"] == "0"
    assert values["micros"] == "987654"
    assert values["id_status"] == "0"
    assert values["id0"] == "65"
    assert values["noop_status"] == "10"
    assert values["r4_kept"] == "1"
    assert result.reason is RunReason.CRASH
    assert result.fault is not None
    assert result.fault.kind is FaultKind.GATEWAY_CALL
    assert result.fault.pc == 0x0C1F_E0A0
    assert "not reached" not in machine.peripherals.console


def test_gateway_handler_can_stop_run(boot: Callable[..., Machine]) -> None:
    machine = boot("bm_gateway")

    def handler(target: Machine, address: int) -> int:
        target.request_stop()
        return 0

    machine.gateway_handler = handler
    result: RunResult = machine.run(max_cycles=10_000_000)
    assert result.reason is RunReason.STOP
    # The call completed: execution resumes in the app at the return address.
    assert machine.symbols.symbolize(machine.pc) is not None
    assert machine.symbols.symbolize(machine.pc).startswith("main")  # type: ignore[union-attr]


def test_gateway_without_handler_crashes(boot: Callable[..., Machine]) -> None:
    machine = boot("bm_gateway")
    result = machine.run(max_cycles=10_000_000)
    assert result.reason is RunReason.CRASH
    assert result.fault is not None
    assert result.fault.kind is FaultKind.GATEWAY_CALL
    assert result.fault.pc == 0x0C1F_E010
