"""Crash reports, their symbolization, and the restart back-off after a crash.

A crash ends the application, never the device. The kernel records the core's
state (registers, fault address, the top of the stack) and names the code
addresses from the ELF's symbols and line table when an ELF is available. The
device then restarts the app after a back-off in virtual time.
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Any

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from openvisor import atomicfile

log = logging.getLogger(__name__)

DEFAULT_MIN_RESTART_MS = 1_000
DEFAULT_MAX_RESTART_MS = 60_000
QUICK_CRASH_US = 60_000_000
"""A crash this soon after the app started counts as "still crashing": the back-off doubles."""
DEFAULT_STACK_BYTES = 256
MAX_STACK_BYTES = 4096


class CrashKind(Enum):
    """Reason the kernel ended the application."""

    FAULT = "fault"
    """An access outside the app's map, or a fault the machine routes to the microvisor."""
    LOCKUP = "lockup"
    """A fault while the app's HardFault handler ran."""
    STUCK_IN_FAULT = "stuck-in-fault"
    """The app stayed in a fault handler longer than the allowed time."""
    WATCHDOG = "watchdog"
    """No system call within the watchdog period."""
    GATEWAY = "gateway"
    """A branch to a gateway address that has no call."""
    HUNG_INTERRUPT = "hung-interrupt"
    """A fast interrupt handler stayed active longer than the device's budget."""


@dataclass(frozen=True)
class CrashPolicy:
    """The bundle's crash policy; Protocol Buffers cannot tell 0 from unset, so 0 = default."""

    minimum_restart_ms: int = 0
    maximum_restart_ms: int = 0
    include_stack_bytes: int = 0

    @property
    def min_restart_us(self) -> int:
        return (self.minimum_restart_ms or DEFAULT_MIN_RESTART_MS) * 1000

    @property
    def max_restart_us(self) -> int:
        return max(self.min_restart_us, (self.maximum_restart_ms or DEFAULT_MAX_RESTART_MS) * 1000)

    @property
    def stack_bytes(self) -> int:
        return min(MAX_STACK_BYTES, self.include_stack_bytes or DEFAULT_STACK_BYTES)


@dataclass
class RestartBackoff:
    """Delay before the next restart: the minimum, doubling up to the maximum while the
    app keeps crashing within a minute of starting, back to the minimum otherwise."""

    policy: CrashPolicy = field(default_factory=CrashPolicy)
    last_delay_us: int = 0

    def next_delay_us(self, uptime_us: int) -> int:
        """Return the back-off for a crash ``uptime_us`` after the app started."""
        if self.last_delay_us and uptime_us < QUICK_CRASH_US:
            delay = min(self.policy.max_restart_us, self.last_delay_us * 2)
        else:
            delay = self.policy.min_restart_us
        self.last_delay_us = delay
        return delay


@dataclass
class CrashReport:
    """The kernel's record of one application crash."""

    kind: str
    detail: str
    micros: int
    """Kernel time of the crash (µs since the microvisor started)."""
    uptime_us: int
    """How long the app had run since its last start."""
    pc: int
    lr: int
    sp: int
    xpsr: int
    fault_address: int | None
    access: str
    registers: dict[str, int]
    stack: str
    """Hex of the bytes from SP upwards (the size set by the crash policy)."""
    symbols: dict[str, str] = field(default_factory=dict)
    """``pc``/``lr`` (and ``fault_address`` when it is code) to ``function+0xN (file:line)``."""
    restart_delay_us: int = 0
    crash_count: int = 0
    app_id: str = ""
    """The crashed app's bundle id (hex SHA-256 of its manifest body), or empty without a bundle."""

    def to_json(self) -> dict[str, Any]:
        """Convert the report to a plain mapping for JSON state files and the device link."""
        # A shallow copy: `asdict` deep-copies every value, about 8 times slower,
        # and the whole kept list is serialized on each crash.
        value = {item.name: getattr(self, item.name) for item in fields(self)}
        value["registers"] = dict(self.registers)
        value["symbols"] = dict(self.symbols)
        return value

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> CrashReport:
        """Rebuild a report from :meth:`to_json` output."""
        return cls(**value)

    def summary(self) -> str:
        """Format one console line: kind, PC (symbolized) and fault address."""
        where = self.symbols.get("pc", f"{self.pc:#010x}")
        text = f"app crashed ({self.kind}) at {where}"
        if self.fault_address is not None:
            text += f", fault address {self.fault_address:#010x}"
        if self.detail:
            text += f": {self.detail}"
        return text


class Symbolizer:
    """Names code addresses from an ELF's function symbols and DWARF line table.

    Example::

        Symbolizer(Path("app.elf")).describe(0x0800_0123)  # 'main+0x1a (main.c:12)'
    """

    def __init__(self, elf_path: Path) -> None:
        self._starts: list[int] = []
        self._functions: list[tuple[int, int, str]] = []
        self._lines: list[tuple[int, str, int]] = []
        self._line_addresses: list[int] = []
        try:
            with open(elf_path, "rb") as stream:
                elf = ELFFile(stream)
                self._read_symbols(elf)
                self._read_lines(elf)
        except (OSError, ELFError) as exc:
            log.warning("Cannot read symbols (elf=%s, error=%s)", elf_path, exc)

    def _read_symbols(self, elf: ELFFile) -> None:
        table = elf.get_section_by_name(".symtab")
        if not isinstance(table, SymbolTableSection):
            return
        functions = []
        for symbol in table.iter_symbols():
            if symbol["st_info"]["type"] == "STT_FUNC" and symbol.name:
                functions.append((symbol["st_value"] & ~1, symbol["st_size"], symbol.name))
        functions.sort()
        self._functions = functions
        self._starts = [start for start, _, _ in functions]

    def _read_lines(self, elf: ELFFile) -> None:
        if not elf.has_dwarf_info():
            return
        dwarf = elf.get_dwarf_info()
        rows: list[tuple[int, str, int]] = []
        for unit in dwarf.iter_CUs():
            program = dwarf.line_program_for_CU(unit)
            if program is None:
                continue
            names = program["file_entry"]
            base = 0 if program.header["version"] >= 5 else 1
            for entry in program.get_entries():
                state = entry.state
                if state is None or state.end_sequence:
                    continue
                index = state.file - base
                if 0 <= index < len(names):
                    name = names[index].name.decode(errors="replace")
                    rows.append((state.address, name, state.line))
        rows.sort()
        self._lines = rows
        self._line_addresses = [address for address, _, _ in rows]

    def function(self, address: int) -> str | None:
        """``name+0xN`` of the function holding ``address``, or None."""
        address &= ~1
        index = bisect.bisect_right(self._starts, address) - 1
        if index < 0:
            return None
        start, size, name = self._functions[index]
        if size == 0:
            # A symbol without a size (hand-written assembly) extends to the next one.
            last = index + 1 == len(self._functions)
            if last or address >= self._functions[index + 1][0]:
                return None
        elif address >= start + size:
            return None
        return f"{name}+{address - start:#x}"

    def line(self, address: int) -> str | None:
        """``file:line`` of ``address`` from the line table, or None."""
        index = bisect.bisect_right(self._line_addresses, address & ~1) - 1
        if index < 0:
            return None
        _, name, number = self._lines[index]
        return f"{name}:{number}"

    def describe(self, address: int) -> str | None:
        """``function+0xN (file:line)`` where known, or None."""
        function = self.function(address)
        if function is None:
            return None
        line = self.line(address)
        return f"{function} ({line})" if line else function


CRASH_STATE_FILE = "crash-reports.json"
MAX_KEPT_REPORTS = 32


class CrashLog:
    """Crash reports not yet delivered to the cloud (persisted), newest last.

    A kernel family state: ``kernel.family_state(CrashLog)``. The network side
    calls :meth:`take` to deliver reports and :meth:`requeue` when that failed.
    At most 32 reports are kept; the oldest go first.
    """

    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel
        self.reports: list[CrashReport] = []
        self.crash_count = 0
        """Crashes since this kernel started."""
        if kernel.state_dir is not None:
            saved = atomicfile.read_json(kernel.state_dir / CRASH_STATE_FILE, default=[])
            self.reports = [CrashReport.from_json(item) for item in saved]

    def record(self, report: CrashReport) -> None:
        """Keep ``report`` and persist the list at once (the device may die next)."""
        self.crash_count += 1
        self.reports.append(report)
        del self.reports[:-MAX_KEPT_REPORTS]
        self._save()

    def take(self) -> list[CrashReport]:
        """Remove and return every report for delivery."""
        taken, self.reports = self.reports, []
        if taken:
            self._save()
        return taken

    def requeue(self, reports: list[CrashReport]) -> None:
        """Put back reports whose delivery failed."""
        self.reports[:0] = reports
        del self.reports[:-MAX_KEPT_REPORTS]
        self._save()

    def _save(self) -> None:
        if self.kernel.state_dir is not None:
            atomicfile.write_json(
                self.kernel.state_dir / CRASH_STATE_FILE, [r.to_json() for r in self.reports]
            )
