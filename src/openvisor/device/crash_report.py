"""Crash reports: the registers, stack top and symbols of a crashed app."""

from __future__ import annotations

from typing import Any

from openvisor.kernel.crash import CrashKind, CrashReport, Symbolizer
from openvisor.kernel.memory import APP_SRAM_BASE, APP_SRAM_SIZE, is_writable

CORE_REGISTERS = [f"r{i}" for i in range(13)] + ["sp", "lr", "pc", "xpsr"]


def build_report(
    machine: Any,
    kind: CrashKind,
    *,
    fault: Any,
    detail: str,
    address: int | None,
    stack_bytes: int,
    symbolizer: Symbolizer | None,
    micros: int,
    app_id: str,
) -> CrashReport:
    """Build the report of a crash from ``fault`` (a `FaultRecord`) or the live registers.

    ``stack_bytes`` caps the copied stack top. ``micros`` is the virtual time of
    the crash. The caller sets ``uptime_us``, ``restart_delay_us`` and ``crash_count``.
    """
    registers = _fault_registers(fault) or _read_registers(machine)
    access = str(getattr(fault, "access", "") or "")
    if fault is not None:
        address = getattr(fault, "address", address)
        detail = detail or str(getattr(fault, "description", "") or "")
    sp = registers.get("sp", 0)
    # The top of the stack runs from SP up to the policy's size or the end of SRAM.
    stack = b""
    if is_writable(sp, 1):
        size = min(stack_bytes, APP_SRAM_BASE + APP_SRAM_SIZE - sp)
        stack = bytes(machine.mem_read(sp, size))

    symbols: dict[str, str] = {}
    if symbolizer is not None:
        for name in ("pc", "lr"):
            text = symbolizer.describe(registers.get(name, 0))
            if text:
                symbols[name] = text
    return CrashReport(
        kind=kind.value,
        detail=detail,
        micros=micros,
        uptime_us=0,
        pc=registers.get("pc", 0),
        lr=registers.get("lr", 0),
        sp=sp,
        xpsr=registers.get("xpsr", 0),
        fault_address=address,
        access=access,
        registers=registers,
        stack=stack.hex(),
        symbols=symbols,
        app_id=app_id,
    )


def crash_kind(fault: Any) -> CrashKind:
    """Map the machine's fault kind (``FaultKind``) to the crash report's kind."""
    kind = str(getattr(getattr(fault, "kind", None), "value", ""))
    if kind == "lockup":
        return CrashKind.LOCKUP
    if kind == "gateway-call":
        return CrashKind.GATEWAY
    return CrashKind.FAULT


def _fault_registers(fault: Any) -> dict[str, int]:
    if fault is None:
        return {}
    registers = dict(getattr(fault, "registers", None) or {})
    for name in ("pc", "lr", "sp", "xpsr"):
        value = getattr(fault, name, None)
        if value is not None:
            registers[name] = value
    return {str(name): int(value) for name, value in registers.items()}


def _read_registers(machine: Any) -> dict[str, int]:
    return {name: int(machine.reg_read(name)) for name in CORE_REGISTERS}
