"""Real gdb-multiarch against the local stub of a virtual device (``ov run --gdb``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from openvisor.device.device import Device
from openvisor.device.image import AppImage
from openvisor.gdb import serve_local
from openvisor.kernel.abi import MvWakeReason

APP = "g_debug"


@pytest.fixture
def elf(firmware: Callable[[str], Path]) -> Path:
    return firmware(APP)


@pytest.fixture
def local(tmp_path: Path, elf: Path, device_runner: Any) -> Iterator[tuple[Device, int]]:
    """A device running the debug app, its stub on a free loopback port."""
    device = Device(tmp_path / "device", image=AppImage.from_path(elf))
    server = serve_local(device, 0)
    device_runner(device)
    yield device, server.port
    server.close()


def test_break_step_print_set(local: tuple[Device, int], elf: Path, run_gdb: Any) -> None:
    _device, port = local
    result = run_gdb(
        elf,
        port,
        [
            "break main",
            "continue",
            "next",
            "next",
            "step",
            "backtrace",
            "print counter",
            "set var counter = 41",
            "print counter",
            "finish",
            "print/x $pc",
            "detach",
        ],
    )
    out = result.output
    assert "Breakpoint 1, main () at apps/g_debug/main.c" in out, out
    assert re.search(r"add_step \(value=0, step=(step@entry=)?1\) at apps/g_debug/main.c", out), out
    assert re.search(r"#1 +0x[0-9a-f]+ in main \(\) at apps/g_debug/main.c", out), out
    assert "$1 = 0" in out, out
    assert "$2 = 41" in out, out
    assert "Value returned is $3 = 1" in out, out
    assert "[Inferior 1 (Remote target) detached]" in out, out


def test_watchpoint_stops_on_write(local: tuple[Device, int], elf: Path, run_gdb: Any) -> None:
    _device, port = local
    result = run_gdb(elf, port, ["watch watched", "continue", "print counter", "detach"])
    out = result.output
    assert "Hardware watchpoint 1: watched" in out, out
    assert "Old value = 0" in out, out
    assert "New value = 16" in out, out
    assert "$1 = 16" in out, out


def test_backtrace_through_exception(local: tuple[Device, int], elf: Path, run_gdb: Any) -> None:
    _device, port = local
    result = run_gdb(elf, port, ["break irq_work", "continue", "backtrace", "detach"])
    out = result.output
    assert "Breakpoint 1, irq_work () at apps/g_debug/main.c" in out, out
    frames = [line for line in out.splitlines() if re.match(r"#\d+ ", line)]
    names = [
        "irq_work"
        if "irq_work" in line
        else "handler"
        if "IRQ41_Handler" in line or "IRQHandler" in line
        else "signal"
        if "<signal handler called>" in line
        else "main"
        if "main ()" in line
        else "other"
        for line in frames
    ]
    assert names[0] == "irq_work", out
    assert "handler" in names, out
    signal_at = names.index("signal")
    assert names.index("handler") < signal_at, out
    assert names[signal_at + 1] == "main", out


def _app_running(device: Device) -> bool:
    debugger = device.debugger
    return debugger is not None and debugger.attached and not debugger.holds_app()


def test_interrupt_running_loop(local: tuple[Device, int], elf: Path, run_gdb: Any) -> None:
    _device, port = local
    result = run_gdb(
        elf,
        port,
        ["continue", "print counter > 0", "info registers pc", "detach"],
        interrupt_when=lambda: _app_running(_device),
    )
    out = result.output
    assert "Program received signal SIGINT, Interrupt." in out, out
    assert "$1 = 1" in out, out
    assert re.search(r"pc +0x80[0-9a-f]{5}", out), out


@pytest.mark.parametrize(
    ("request_kind", "signal"),
    [
        (1, "SIGSEGV, Segmentation fault"),
        (2, "SIGILL, Illegal instruction"),
    ],
)
def test_registers_after_fault(
    local: tuple[Device, int], elf: Path, run_gdb: Any, request_kind: int, signal: str
) -> None:
    device, port = local
    result = run_gdb(
        elf,
        port,
        [
            "break main",
            "continue",
            f"set var fault_request = {request_kind}",
            "continue",
            "info registers pc sp",
            "backtrace",
            "kill",
        ],
    )
    out = result.output
    assert f"Program received signal {signal}." in out, out
    assert re.search(r"sp +0x2007[0-9a-f]{4}", out), out
    assert "raise_fault (kind=" in out, out
    if request_kind != 1:
        # UsageFaults enter the app's fault handler: GDB unwinds through the exception frame.
        assert "<signal handler called>" in out, out
    # A fault under the debugger is held for inspection, not reported as a crash,
    # and kill restarts the app for the debugger.
    assert device.crash_log.crash_count == 0
    assert device.kernel.wake_reason is MvWakeReason.DEBUGGERRESTART


def test_memory_outside_app_map(local: tuple[Device, int], elf: Path, run_gdb: Any) -> None:
    _device, port = local
    result = run_gdb(
        elf,
        port,
        ["x/4x 0x30000000", "x/4x 0x0c000000", "x/2x 0x20000000", "info mem", "detach"],
    )
    out = result.output
    assert "Cannot access memory at address 0x30000000" in out, out
    assert "Cannot access memory at address 0xc000000" in out, out
    assert re.search(r"0x20000000 <[^>]+>:\s+0x", out) or "0x20000000:" in out, out
    assert "0x08000000 0x08100000 flash blocksize 0x2000" in out, out
    assert "0x20000000 0x20080000 rw" in out, out


def test_monitor_reset_sets_wake_reason(local: tuple[Device, int], elf: Path, run_gdb: Any) -> None:
    device, port = local
    result = run_gdb(
        elf,
        port,
        [
            "break main",
            "continue",
            "monitor reset",
            "maintenance flush register-cache",
            "info symbol $pc",
            "detach",
        ],
    )
    out = result.output
    assert "Application restarted and held at its reset vector" in out, out
    assert "Reset_Handler in section .text" in out, out
    assert device.kernel.wake_reason is MvWakeReason.DEBUGGERRESTART


def test_app_waits_for_debugger(local: tuple[Device, int], elf: Path, run_gdb: Any) -> None:
    device, port = local
    result = run_gdb(elf, port, ["info symbol $pc", "print counter", "detach"])
    out = result.output
    assert "Reset_Handler in section .text" in out, out
    assert "$1 = 0" in out, out
    assert device.kernel.debugger_attached is False


def test_sdk_debug_example(
    tmp_path: Path, firmware: Callable[[str], Path], device_runner: Any, run_gdb: Any
) -> None:
    elf = firmware("dbg_example")
    device = Device(tmp_path / "example", image=AppImage.from_path(elf))
    server = serve_local(device, 0)
    device_runner(device)
    try:
        result = run_gdb(
            elf,
            server.port,
            [
                "break SysTick_Handler",
                "continue",
                "backtrace",
                "delete",
                "set var g_fault_request = 1",
                "continue",
                "backtrace",
                "kill",
            ],
        )
    finally:
        server.close()
    out = result.output
    assert "Breakpoint 1, SysTick_Handler ()" in out, out
    assert re.search(r"#1 +<signal handler called>\n#2 +main \(\)", out), out
    assert "Program received signal SIGSEGV, Segmentation fault." in out, out
    assert re.search(r"#0 +0x[0-9a-f]+ in fault_now \(\)", out), out
