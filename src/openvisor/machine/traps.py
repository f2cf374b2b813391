"""Traps that Unicorn cannot raise itself: CCR.DIV_0_TRP, CCR.UNALIGN_TRP, SCS BusFaults.

Unicorn keeps its own CCR, which the app's SCS writes never reach, so
SDIV and UDIV by zero return 0 there and single unaligned loads and stores
succeed. The hooks here exist only while the app sets the CCR bit, so
firmware that never sets it runs at full speed:

- DIV_0_TRP: every SDIV/UDIV in application flash gets a code hook limited
  to its address. Divisions in SRAM are found as the code runs. A block
  hook limited to SRAM scans each block it has not seen with these bytes.
  For new divisions it adds code hooks and stops before the block, so the
  block is translated again with them. A code hook whose divisor register
  is zero stops the run before the division.
- UNALIGN_TRP: a native memory hook (``_traps.c``) on every access stops
  the run at the first access whose address is not a multiple of its
  size. Unicorn abandons the instruction on that stop with its registers
  unchanged and PC at it. A store has already reached memory by then, so
  its old bytes are put back. Any memory hook sends every access through
  Unicorn's slow path, so the CPU-bound benchmark image runs at a sixth to
  an eighth of its speed (``benchmarks/bench_traps.py``).
- Unprivileged SCS accesses: the SCS callback calls `bus_fault`, which
  stops the run in the same way before the load or store completes.

A stop records a pending fault and the debug hit ``("trap", address)``. The
run loop then rewinds the cycle count to the faulting instruction and
calls `resolve`, which raises the fault through the exception unit.
"""

from __future__ import annotations

import ctypes
import logging
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unicorn import UC_HOOK_BLOCK, UC_HOOK_CODE, UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE
from unicorn import arm_const as arm
from unicorn import unicorn_const as ucc
from unicorn.unicorn_py3.unicorn import uclib

from openvisor.errors import EmulationError
from openvisor.machine import _native
from openvisor.machine import memory_map as mm
from openvisor.machine import nvic as nv
from openvisor.machine.exceptions import UFSR_UNALIGNED

if TYPE_CHECKING:
    from openvisor.machine.core import Machine

log = logging.getLogger(__name__)

CCR_UNALIGN_TRP = 1 << 3
CCR_DIV_0_TRP = 1 << 4

BFSR_PRECISERR = 1 << 9
BFSR_BFARVALID = 1 << 15


ALIGN_SOURCE = Path(__file__).with_name("_traps.c")

_SEV = struct.pack("<H", 0xBF40)
_SEV_WIDE = struct.pack("<HH", 0xF3AF, 0x8004)


def _division_register(first: int, second: int) -> int | None:
    """Return the divisor register of an SDIV/UDIV encoding, or None for other halfwords."""
    # SDIV: 1111 1011 1001 Rn / 1111 Rd 1111 Rm; UDIV has 1011 in place of 1001.
    if first & 0xFFF0 in (0xFB90, 0xFBB0) and second & 0xF0F0 == 0xF0F0:
        return second & 0xF
    return None


def _halves(code: bytes) -> tuple[int, ...]:
    return struct.unpack(f"<{len(code) // 2}H", code[: len(code) // 2 * 2])


def find_divisions(code: bytes, base: int) -> dict[int, int]:
    """Return {address: divisor register} for every SDIV/UDIV encoding in `code`.

    Each halfword position is tested on its own: an encoding that is really
    data or the second half of another instruction is never executed at
    that address, so its hook never fires.
    """
    found = {}
    halves = _halves(code)
    for index in range(len(halves) - 1):
        register = _division_register(halves[index], halves[index + 1])
        if register is not None:
            found[base + 2 * index] = register
    return found


def find_sev(code: bytes, base: int) -> list[int]:
    """Return the address of every SEV and SEV.W encoding at an even offset in `code`."""
    found = []
    for pattern in (_SEV, _SEV_WIDE):
        offset = code.find(pattern)
        while offset >= 0:
            if offset % 2 == 0:
                found.append(base + offset)
            offset = code.find(pattern, offset + 1)
    return sorted(found)


class AlignState(ctypes.Structure):
    """Mirror of ``struct ov_align`` shared with the native alignment hook."""

    _fields_ = [
        ("stopped", ctypes.c_uint32),
        ("type", ctypes.c_uint32),
        ("address", ctypes.c_uint64),
        ("size", ctypes.c_uint32),
        ("saved", ctypes.c_uint32),
        ("old", ctypes.c_uint8 * 8),
        ("sram", ctypes.c_void_p),
        ("sram_base", ctypes.c_uint32),
        ("sram_size", ctypes.c_uint32),
        ("emu_stop", ctypes.c_void_p),
    ]


class Traps:
    """Hooks for the CCR traps and SEV, and the fault that a hook stopped the run for.

    SEV, exception entry and return, and SEVONPEND set `Nvic.event`, the
    event register that WFE consumes.
    """

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self._division_hooks: dict[int, int] = {}  # address -> hook handle
        self._divisors: dict[int, int] = {}
        self._sram_hook: int | None = None
        self._sram_blocks: dict[int, bytes] = {}
        self._new_divisions: list[int] = []
        self._access_hook: int | None = None
        self._align = AlignState()
        self._align.sram = ctypes.addressof(machine._sram)
        self._align.sram_base = mm.SRAM_BASE
        self._align.sram_size = mm.SRAM_SIZE
        self._align.emu_stop = _native.function_address(uclib.uc_emu_stop)
        self._sev_hooks: list[int] = []
        self._native_marks = 0
        # A fault found by a hook during the run: (kind, address), and the old
        # bytes of a store that Unicorn wrote before it abandoned the instruction.
        self.pending: tuple[str, int] | None = None
        self._flush_due = False
        self._undo: tuple[int, bytes] | None = None

    @property
    def armed(self) -> bool:
        """Whether the divide-by-zero hooks are installed."""
        return self._sram_hook is not None

    @property
    def unaligned_armed(self) -> bool:
        """Whether the alignment hook is installed."""
        return self._access_hook is not None

    def update(self, ccr: int) -> None:
        """Install or remove hooks to follow CCR.DIV_0_TRP and CCR.UNALIGN_TRP."""
        if ccr & CCR_DIV_0_TRP and not self.armed:
            self._arm_division()
        elif not ccr & CCR_DIV_0_TRP and self.armed:
            self._disarm_division()
        if ccr & CCR_UNALIGN_TRP and self._access_hook is None:
            self._access_hook = self._add_align_hook()
            self._retranslate_all()
            log.debug("Arm unaligned-access trap")
        elif not ccr & CCR_UNALIGN_TRP and self._access_hook is not None:
            self._remove_align_hook()
            self._retranslate_all()

    def _retranslate_all(self) -> None:
        """Drop every translation at the next block boundary.

        Unicorn decides when it translates a block whether its loads call
        memory hooks, and when it fills a TLB entry whether accesses through
        it do. The TLB is flushed at once. Translations cannot be dropped
        while one runs, so the run stops at the next block boundary and
        `resolve` drops them.
        """
        machine = self.machine
        _native.flush_tlb(machine._handle)
        if not machine._running:
            machine._uc.ctl_flush_tb()
            return
        # NOTE: accesses later in the block that sets CCR.UNALIGN_TRP may escape the check.
        self._flush_due = True
        if machine.debug.hit is None:
            machine.debug.hit = ("trap", 0)
        machine._core.deadline = 0

    def disarm(self) -> None:
        """Remove the CCR trap hooks and forget a pending fault (reset, image load)."""
        self._disarm_division()
        if self._access_hook is not None:
            self._remove_align_hook()
        self._align.stopped = 0
        self.pending = None
        self._undo = None
        # The event register is clear after reset, whatever the native loop did before.
        core = self.machine._core
        self._native_marks = int(core.native_entries) + int(core.native_returns)
        if self._flush_due:
            self._flush_due = False
            self.machine._uc.ctl_flush_tb()

    # SEV

    def watch_sev(self) -> None:
        """Hook every SEV in application flash so that it sets the event register."""
        uc: Any = self.machine._uc
        for handle in self._sev_hooks:
            uc.hook_del(handle)
        self._sev_hooks.clear()
        # NOTE: SEV in code running from SRAM does not set the event register.
        for address in self.machine.scan_flash("sev", find_sev):
            handle = uc.hook_add(UC_HOOK_CODE, self._on_sev, begin=address, end=address)
            self._sev_hooks.append(handle)
        uc.ctl_remove_cache(mm.FLASH_BASE, mm.FLASH_BASE + mm.FLASH_SIZE)

    def _on_sev(self, uc: Any, address: int, size: int, user_data: object) -> None:
        self.machine.nvic.event = True

    def event_registered(self) -> bool:
        """Return the event register, set also by the native loop's entries and returns."""
        core = self.machine._core
        marks = int(core.native_entries) + int(core.native_returns)
        if marks != self._native_marks:
            self._native_marks = marks
            self.machine.nvic.event = True
        return self.machine.nvic.event

    # Division by zero

    def _arm_division(self) -> None:
        uc: Any = self.machine._uc
        divisions = self.machine.scan_flash("divisions", find_divisions)
        self._divisors.update(divisions)
        self._hook_divisions(list(divisions))
        self._sram_hook = uc.hook_add(
            UC_HOOK_BLOCK,
            self._on_sram_block,
            begin=mm.SRAM_BASE,
            end=mm.SRAM_BASE + mm.SRAM_SIZE - 1,
        )
        # SRAM blocks translated before the hook existed do not call it.
        uc.ctl_remove_cache(mm.SRAM_BASE, mm.SRAM_BASE + mm.SRAM_SIZE)
        log.debug("Arm divide-by-zero trap (instructions in flash=%d)", len(divisions))

    def _hook_divisions(self, addresses: list[int]) -> None:
        uc: Any = self.machine._uc
        for address in addresses:
            if address in self._division_hooks:
                continue
            handle = uc.hook_add(UC_HOOK_CODE, self._on_division, begin=address, end=address)
            self._division_hooks[address] = handle
            uc.ctl_remove_cache(address, address + 4)

    def _disarm_division(self) -> None:
        uc: Any = self.machine._uc
        for address, handle in self._division_hooks.items():
            uc.hook_del(handle)
            uc.ctl_remove_cache(address, address + 4)
        if self._sram_hook is not None:
            uc.hook_del(self._sram_hook)
            self._sram_hook = None
        self._division_hooks.clear()
        self._divisors.clear()
        self._sram_blocks.clear()
        self._new_divisions.clear()

    def _on_sram_block(self, uc: Any, address: int, size: int, user_data: object) -> None:
        if not 0 < size <= 0x1000:
            return
        code = self.machine.mem_read(address, size)
        if self._sram_blocks.get(address) == code:
            return
        self._sram_blocks[address] = code
        found = find_divisions(code, address)
        self._divisors.update(found)
        new = [at for at in found if at not in self._division_hooks]
        if not new:
            return
        if not self.machine._core.counting:
            # A single step runs only the block's first instruction and drops
            # its translation afterwards: check that one here, hook the rest.
            self._hook_divisions(new)
            if address in found:
                self._on_division(uc, address, 4, user_data)
            return
        self._new_divisions.extend(new)
        self._stop(uc, ("retranslate", address))

    def _on_division(self, uc: Any, address: int, size: int, user_data: object) -> None:
        register = self._divisors.get(address)
        if mm.SRAM_BASE <= address < mm.SRAM_BASE + mm.SRAM_SIZE:
            # SRAM code may have been rewritten since the scan.
            first, second = struct.unpack("<HH", self.machine.mem_read(address, 4))
            register = _division_register(first, second)
        if register is None or register > 12:
            return
        if self.machine.registers.read(arm.UC_ARM_REG_R0 + register) != 0:
            return
        debug = self.machine.debug
        if debug.hit is None:
            debug.hit = ("divbyzero", address)
        uc.emu_stop()

    # Unaligned accesses

    # NOTE: with UNALIGN_TRP clear nothing checks LDRD/STRD/LDM/STM/PUSH/POP,
    # STREX or LDA/STL, which ARMv8-M always requires to be aligned.
    def _add_align_hook(self) -> int:
        library = _native.load_extra_library(ALIGN_SOURCE, "ovtraps")
        hook = ctypes.c_size_t()
        status = uclib.uc_hook_add(
            self.machine._handle,
            ctypes.byref(hook),
            ctypes.c_int(UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE),
            ctypes.c_void_p(_native.function_address(library.ov_align_hook)),
            ctypes.c_void_p(ctypes.addressof(self._align)),
            ctypes.c_uint64(1),
            ctypes.c_uint64(0),
        )
        if status != ucc.UC_ERR_OK:
            raise EmulationError(f"adding the alignment hook failed with Unicorn error {status}")
        return hook.value

    def _remove_align_hook(self) -> None:
        uclib.uc_hook_del(self.machine._handle, ctypes.c_size_t(self._access_hook or 0))
        self._access_hook = None

    def collect(self) -> None:
        """Take over a stop of the native alignment hook after a slice."""
        align = self._align
        if not align.stopped:
            return
        align.stopped = 0
        address = int(align.address)
        if align.saved:
            self._undo = (address, bytes(align.old[: align.size]))
        self.pending = ("unaligned", address)
        self.machine.debug.hit = ("trap", address)

    @property
    def stopping(self) -> bool:
        """Whether a hook has stopped the run inside an instruction that is to be abandoned."""
        return self.pending is not None or bool(self._align.stopped)

    # BusFault

    def bus_fault(self, address: int) -> None:
        """Stop the run before the current load or store and raise a precise BusFault at it."""
        if self.pending is None:
            self._stop(self.machine._uc, ("bus", address))

    def _stop(self, uc: Any, pending: tuple[str, int]) -> None:
        self.pending = pending
        # The abandoned instruction outranks a watchpoint on the same access.
        self.machine.debug.hit = ("trap", pending[1])
        uc.emu_stop()

    @property
    def abandoned(self) -> bool:
        """Whether the run stopped inside a block, abandoning the instruction at PC."""
        return self.pending is not None

    def resolve(self, pc: int) -> None:
        """Raise the fault that stopped the run before the instruction at `pc`."""
        if self._flush_due:
            self._flush_due = False
            self.machine._uc.ctl_flush_tb()
        pending, self.pending = self.pending, None
        undo, self._undo = self._undo, None
        if undo is not None:
            self.machine.mem_write(*undo)
        if pending is None:
            return
        kind, address = pending
        unit = self.machine.exception_unit
        if kind == "retranslate":
            new, self._new_divisions = self._new_divisions, []
            self._hook_divisions(new)
            block = self._sram_blocks.get(address, b"")
            self.machine._uc.ctl_remove_cache(address, address + max(len(block), 4))
        elif kind == "unaligned":
            log.debug("Unaligned access (pc=%#010x, address=%#010x)", pc, address)
            unit.usage_fault(UFSR_UNALIGNED, pc, f"unaligned access to {address:#010x}")
        elif kind == "bus":
            log.debug(
                "Unprivileged system register access (pc=%#010x, address=%#010x)", pc, address
            )
            unit.cfsr |= BFSR_PRECISERR | BFSR_BFARVALID
            unit.bfar = address
            unit._route_fault(
                nv.BUSFAULT, pc, f"unprivileged access to system register {address:#010x}"
            )
