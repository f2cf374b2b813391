"""Target view of the GDB stub: registers, memory map, stop events and fault signals.

The stub talks to the application core through :class:`DebugTarget`. This
module fixes how that core looks to GDB: the register numbering and the
target description XML (M-profile core, system and FPU registers), the
memory map XML of the application's regions, and the POSIX signal that each
stop is reported with.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Protocol

from openvisor.errors import DebugError

# Application regions (non-secure aliases), as the microvisor ABI lays them out.
APP_FLASH_BASE = 0x0800_0000
APP_FLASH_SIZE = 0x0010_0000
APP_FLASH_PAGE = 0x2000  # STM32U585 flash page: 8 KiB
APP_SRAM_BASE = 0x2000_0000
APP_SRAM_SIZE = 0x0008_0000


class Signal(IntEnum):
    """GDB's signal numbers (include/gdb/signals.def), not the host's."""

    SIGINT = 2
    SIGILL = 4
    SIGTRAP = 5
    SIGBUS = 7
    SIGFPE = 8
    SIGSEGV = 11


class StopKind(Enum):
    """Reason the application core stopped."""

    HALT = "halt"
    STEP = "step"
    BREAKPOINT = "breakpoint"
    WATCHPOINT = "watchpoint"
    INTERRUPT = "interrupt"
    FAULT = "fault"


class WatchKind(Enum):
    """Access type a watchpoint stops on (Z2 write, Z3 read, Z4 access)."""

    WRITE = "watch"
    READ = "rwatch"
    ACCESS = "awatch"


@dataclass(frozen=True)
class StopEvent:
    """One stop of the core, with what GDB needs to report it."""

    kind: StopKind
    signal: Signal = Signal.SIGTRAP
    watch_kind: WatchKind | None = None
    watch_address: int = 0
    description: str = ""


@dataclass(frozen=True)
class MemoryRegion:
    """One region of the application's map, as reported to GDB."""

    base: int
    size: int
    kind: str  # "ram" or "flash", the memory-map DTD's types
    writable: bool
    block_size: int = 0

    def contains(self, address: int, length: int) -> bool:
        """Return whether ``[address, address + length)`` lies wholly in the region."""
        return self.base <= address and address + length <= self.base + self.size


APP_REGIONS: tuple[MemoryRegion, ...] = (
    MemoryRegion(APP_FLASH_BASE, APP_FLASH_SIZE, "flash", False, APP_FLASH_PAGE),
    MemoryRegion(APP_SRAM_BASE, APP_SRAM_SIZE, "ram", True),
)


class AppMapError(DebugError):
    """A debugger memory access fell outside the application's map."""

    def __init__(self, address: int, length: int, *, write: bool) -> None:
        verb = "write" if write else "read"
        super().__init__(
            f"debugger {verb} of {length} bytes at {address:#010x} is outside the "
            "application's map: use flash 0x08000000-0x080fffff (read only) or "
            "SRAM 0x20000000-0x2007ffff"
        )
        self.address = address
        self.length = length


def check_access(address: int, length: int, *, write: bool) -> None:
    """Raise :class:`AppMapError` unless the access lies in one application region."""
    for region in APP_REGIONS:
        if region.contains(address, length) and (region.writable or not write):
            return
    raise AppMapError(address, length, write=write)


class DebugTarget(Protocol):
    """The application core as the stub drives it; every call happens while it is halted,
    except ``resume`` which runs it for a bounded slice."""

    def read_register(self, name: str) -> int:
        """Return a register by its target-description name (``r0``, ``xpsr``, ``d3``)."""
        ...

    def write_register(self, name: str, value: int) -> None:
        """Set a register by its target-description name."""
        ...

    def read_memory(self, address: int, length: int) -> bytes:
        """Return application memory; the caller has checked the range."""
        ...

    def write_memory(self, address: int, data: bytes) -> None:
        """Write application SRAM; the caller has checked the range."""
        ...

    def insert_breakpoint(self, address: int) -> None:
        """Stop before executing the instruction at ``address`` (flash is never written)."""
        ...

    def remove_breakpoint(self, address: int) -> None:
        """Remove a breakpoint set by :meth:`insert_breakpoint`."""
        ...

    def insert_watchpoint(self, address: int, length: int, kind: WatchKind) -> None:
        """Stop after an access of ``kind`` to ``[address, address + length)``."""
        ...

    def remove_watchpoint(self, address: int, length: int, kind: WatchKind) -> None:
        """Remove a watchpoint set by :meth:`insert_watchpoint`."""
        ...

    def step(self) -> StopEvent:
        """Execute one instruction and return the stop."""
        ...

    def resume(self, max_cycles: int) -> StopEvent | None:
        """Run at most ``max_cycles``; return the stop, or None if still running."""
        ...

    def reset(self) -> None:
        """Restart the application and hold it at its reset vector."""
        ...


@dataclass(frozen=True)
class Register:
    """One register of the target description."""

    name: str
    bits: int
    feature: str
    type: str = "int"
    group: str = ""


def _build_registers() -> tuple[Register, ...]:
    core = "org.gnu.gdb.arm.m-profile"
    system = "org.gnu.gdb.arm.m-system"
    vfp = "org.gnu.gdb.arm.vfp"
    regs = [Register(f"r{n}", 32, core) for n in range(13)]
    regs += [
        Register("sp", 32, core, "data_ptr"),
        Register("lr", 32, core),
        Register("pc", 32, core, "code_ptr"),
        Register("xpsr", 32, core),
        # GDB's M-profile exception unwinder reads msp and psp to find the
        # stacked frame behind an EXC_RETURN value (gdb/arm-tdep.c).
        Register("msp", 32, system, "data_ptr", "system"),
        Register("psp", 32, system, "data_ptr", "system"),
        Register("primask", 32, system, "int", "system"),
        Register("basepri", 32, system, "int", "system"),
        Register("faultmask", 32, system, "int", "system"),
        Register("control", 32, system, "int", "system"),
    ]
    regs += [Register(f"d{n}", 64, vfp, "ieee_double", "float") for n in range(16)]
    regs.append(Register("fpscr", 32, vfp, "int", "float"))
    return tuple(regs)


REGISTERS: tuple[Register, ...] = _build_registers()
REGISTER_INDEX: dict[str, int] = {reg.name: n for n, reg in enumerate(REGISTERS)}


def target_xml() -> str:
    """Return the target description XML: Cortex-M33 core, system and FPU registers."""
    features: dict[str, list[str]] = {}
    for regnum, reg in enumerate(REGISTERS):
        attrs = f'name="{reg.name}" bitsize="{reg.bits}" regnum="{regnum}" type="{reg.type}"'
        if reg.group:
            attrs += f' group="{reg.group}"'
        features.setdefault(reg.feature, []).append(f"    <reg {attrs}/>")
    parts = [
        '<?xml version="1.0"?>',
        '<!DOCTYPE target SYSTEM "gdb-target.dtd">',
        '<target version="1.0">',
        "  <architecture>arm</architecture>",
    ]
    for name, lines in features.items():
        parts.append(f'  <feature name="{name}">')
        parts.extend(lines)
        parts.append("  </feature>")
    parts.append("</target>")
    return "\n".join(parts) + "\n"


def memory_map_xml(regions: tuple[MemoryRegion, ...] = APP_REGIONS) -> str:
    """Return the qXfer memory map XML of the application's regions."""
    parts = [
        '<?xml version="1.0"?>',
        (
            '<!DOCTYPE memory-map PUBLIC "+//IDN gnu.org//DTD GDB Memory Map V1.0//EN" '
            '"http://sourceware.org/gdb/gdb-memory-map.dtd">'
        ),
        "<memory-map>",
    ]
    for region in regions:
        head = f'  <memory type="{region.kind}" start="{region.base:#x}" length="{region.size:#x}"'
        if region.kind == "flash":
            parts.append(head + ">")
            parts.append(f'    <property name="blocksize">{region.block_size:#x}</property>')
            parts.append("  </memory>")
        else:
            parts.append(head + "/>")
    parts.append("</memory-map>")
    return "\n".join(parts) + "\n"


def encode_register(reg: Register, value: int) -> bytes:
    """Encode a register value as target-order (little-endian) hex."""
    size = reg.bits // 8
    return value.to_bytes(size, "little").hex().encode("ascii")


def decode_register(reg: Register, text: bytes) -> int:
    """Decode target-order hex into a register value."""
    size = reg.bits // 8
    raw = bytes.fromhex(text.decode("ascii"))
    if len(raw) != size:
        raise DebugError(
            f"register {reg.name} takes {size} bytes, got {len(raw)}: send {size * 2} hex digits"
        )
    return int.from_bytes(raw, "little")


# Fault kinds map to the signal a POSIX debugger user expects. The first
# group are the emulator's crash kinds (openvisor.machine.results.FaultKind);
# the second are the Cortex-M fault exceptions and their CFSR causes, used
# when the core enters a fault handler under the debugger.
_FAULT_SIGNALS: dict[str, Signal] = {
    "memory": Signal.SIGSEGV,
    "flash_write": Signal.SIGSEGV,
    "gateway_read": Signal.SIGSEGV,
    "gateway_call": Signal.SIGSEGV,
    "stacking": Signal.SIGBUS,
    "lockup": Signal.SIGSEGV,
    "invalid_state": Signal.SIGILL,
    "hardfault": Signal.SIGSEGV,
    "memmanage": Signal.SIGSEGV,
    "busfault": Signal.SIGBUS,
    "usagefault": Signal.SIGILL,
    "securefault": Signal.SIGSEGV,
    "undefinstr": Signal.SIGILL,
    "invstate": Signal.SIGILL,
    "invpc": Signal.SIGILL,
    "nocp": Signal.SIGILL,
    "unaligned": Signal.SIGBUS,
    "divbyzero": Signal.SIGFPE,
}


def signal_for_fault(kind: str) -> Signal:
    """Return the signal GDB shows for a fault kind; unknown kinds report SIGSEGV."""
    key = kind.lower().replace("-", "_").replace(" ", "_")
    return _FAULT_SIGNALS.get(key, Signal.SIGSEGV)
