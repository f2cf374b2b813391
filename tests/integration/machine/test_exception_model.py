"""The exception model as firmware observes it, and faults that end the app."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from openvisor.machine import FaultKind, Machine, RunReason, RunResult

RunUntil = Callable[..., RunResult]
Values = Callable[[Machine], dict[str, str]]
MAILBOX = 0x2007_E000
FAULT_MAGIC = 0xFA01_7ED5

EXPECTED = {
    "svc_result": "26",  # 5 + 7 * 3, computed by the SVC handler from the stacked frame
    "usagefault_cfsr": "0x00010000",  # UFSR.UNDEFINSTR
    "hardfault_hfsr": "0x40000000",  # HFSR.FORCED: UsageFault disabled, escalated
    "fp_preserved": "1",
    "irq_float": "1",
    "low_exc_return": "0xffffffa8",  # Thread mode, MSP, extended FP frame
    "low_active_bit": "1",
    "order": "123",  # the high-priority IRQ preempts the low one mid-handler
    "ispr_view": "1",
    "tail_chain_order": "24",  # pending IRQs run by priority on unmask
    "unmask_latency_ok": "1",
    "basepri_masked": "1",
    "basepri_unmasked": "1",
    "stir_latency_ok": "1",
    "ipr_readback": "0x000000f0",  # 4 implemented priority bits
    "itns": "0",
    "aircr": "0xfa050000",
    "unpriv_basepri_ignored": "1",
    "svc_saw_npriv": "1",
    "control_after": "0",
    "vtor_relocated": "1",
    "countflag_set": "1",
    "countflag_cleared": "1",
}


def test_exception_checks_in_firmware(
    boot: Callable[..., Machine], run_until_line: RunUntil, console_values: Values
) -> None:
    machine = boot("bm_exceptions")
    run_until_line(machine, "exceptions done", max_cycles=50_000_000)
    values = console_values(machine)
    for key, expected in EXPECTED.items():
        assert values.get(key) == expected, f"{key}: {values.get(key)} != {expected}"


@pytest.mark.parametrize(
    ("case", "kind", "function", "address", "access"),
    [
        (0, FaultKind.MEMORY, "fault_secure_flash_read", 0x0C00_0100, "read"),
        (1, FaultKind.FLASH_WRITE, "fault_flash_write", 0x0800_0400, "write"),
        (2, FaultKind.MEMORY, "fault_secure_sram_write", 0x3000_0010, "write"),
        (3, FaultKind.MEMORY, "fault_secure_peripheral_read", 0x5002_0C00, "read"),
        (4, FaultKind.GATEWAY_READ, "fault_gateway_read", 0x0C1F_E010, "read"),
        (5, FaultKind.GATEWAY_CALL, None, 0x0C1F_E0A0, "fetch"),
        (6, FaultKind.MEMORY, None, 0x6000_0000, "fetch"),
        (7, FaultKind.MEMORY, "fault_unmapped_read", 0x9000_0000, "read"),
        (8, FaultKind.LOCKUP, "HardFault_Handler", None, None),
        (9, FaultKind.STACKING, "fault_stacking", None, None),
    ],
)
def test_fault_ends_app_with_record(
    boot: Callable[..., Machine],
    case: int,
    kind: FaultKind,
    function: str | None,
    address: int | None,
    access: str | None,
) -> None:
    machine = boot("bm_faults")
    machine.mem_write(MAILBOX, struct.pack("<II", case, FAULT_MAGIC))
    result = machine.run(max_cycles=5_000_000)
    assert result.reason is RunReason.CRASH
    fault = result.fault
    assert fault is not None
    assert fault.kind is kind
    assert fault.access == access
    if address is not None:
        assert fault.address == address
    if function is not None:
        symbol = machine.symbols.symbolize(fault.pc)
        assert symbol is not None and symbol.split("+")[0] == function, symbol
    else:
        assert fault.pc == address
        # LR points back into the calling case function.
        caller = machine.symbols.symbolize(fault.lr & ~1)
        assert caller is not None and caller.startswith("fault_"), caller
    assert fault.registers["sp"] == fault.sp
    assert machine.peripherals.console == [f"case={case}"]


def test_fault_does_not_break_next_boot(boot: Callable[..., Machine]) -> None:
    machine = boot("bm_faults")
    machine.mem_write(MAILBOX, struct.pack("<II", 1, FAULT_MAGIC))
    assert machine.run(max_cycles=5_000_000).reason is RunReason.CRASH
    machine.reset()
    machine.mem_write(MAILBOX, struct.pack("<II", 99, FAULT_MAGIC))
    result = machine.run(max_cycles=5_000_000)
    assert result.reason is RunReason.SLEEP
    assert machine.peripherals.console[-1] == "no fault"
