"""Breakpoints and watchpoints for the debugger, at no cost while unused.

A breakpoint is a Unicorn code hook limited to one address, so only that
instruction calls into Python. A watchpoint is a memory hook limited to
its range. While any watchpoint exists, Unicorn sends every access
through its slow path, so watchpoints cost speed during debugging only.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from unicorn import UC_HOOK_CODE, UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE

from openvisor.errors import DebugError

if TYPE_CHECKING:
    from openvisor.machine.core import Machine

log = logging.getLogger(__name__)

WATCH_KINDS = {"read": UC_HOOK_MEM_READ, "write": UC_HOOK_MEM_WRITE}


class DebugState:
    """Hooks for breakpoints and watchpoints, and the hit that stopped a run."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self._breakpoints: dict[int, int] = {}
        self._watchpoints: dict[tuple[int, int, str], list[int]] = {}
        self.hit: tuple[str, int] | None = None
        self.resume_address: int | None = None
        # BKPT instructions stop the run (BREAKPOINT) instead of escalating to
        # HardFault once a debugger has set any breakpoint or set this flag.
        self.halt_on_bkpt = False

    @property
    def hooked(self) -> bool:
        """Whether any breakpoint or watchpoint hook is installed."""
        return bool(self._breakpoints or self._watchpoints)

    @property
    def breakpoints(self) -> list[int]:
        """Addresses with a breakpoint."""
        return sorted(self._breakpoints)

    def add_breakpoint(self, address: int) -> None:
        """Add a code hook at `address`."""
        if address in self._breakpoints:
            return
        uc = self.machine._uc
        handle = uc.hook_add(UC_HOOK_CODE, self._on_code, begin=address, end=address)
        # Blocks translated before the hook existed do not call it.
        uc.ctl_remove_cache(address, address + 4)
        self._breakpoints[address] = handle
        self.halt_on_bkpt = True
        log.debug("Add breakpoint (address=%#010x)", address)

    def remove_breakpoint(self, address: int) -> None:
        """Remove the code hook at `address`."""
        handle = self._breakpoints.pop(address, None)
        if handle is None:
            raise DebugError(f"no breakpoint at {address:#010x}; set one before removing it")
        self.machine._uc.hook_del(handle)
        self.machine._uc.ctl_remove_cache(address, address + 4)

    def add_watchpoint(self, address: int, size: int, kind: str) -> None:
        """Add memory hooks for reads, writes or both ("access") on a range."""
        if kind not in ("read", "write", "access"):
            raise DebugError(f"watchpoint kind {kind!r} is invalid: use read, write or access")
        if size <= 0:
            raise DebugError(f"watchpoint size {size} must be positive")
        key = (address, size, kind)
        if key in self._watchpoints:
            return
        kinds = ["read", "write"] if kind == "access" else [kind]
        uc = self.machine._uc
        handles = [
            uc.hook_add(WATCH_KINDS[k], self._on_memory, begin=address, end=address + size - 1)
            for k in kinds
        ]
        self._watchpoints[key] = handles
        uc.ctl_flush_tb()
        log.debug("Add watchpoint (address=%#010x, size=%d, kind=%s)", address, size, kind)

    def remove_watchpoint(self, address: int, size: int, kind: str) -> None:
        """Remove the watchpoint with exactly this range and kind."""
        handles = self._watchpoints.pop((address, size, kind), None)
        if handles is None:
            raise DebugError(
                f"no {kind} watchpoint at {address:#010x} size {size}; set one before removing it"
            )
        for handle in handles:
            self.machine._uc.hook_del(handle)
        self.machine._uc.ctl_flush_tb()

    def _on_code(self, uc: Any, address: int, size: int, user_data: object) -> None:
        if address == self.resume_address:
            # The run resumes at this breakpoint: execute it once.
            self.resume_address = None
            # The coprocessor check defers to this hook at breakpoints, so a
            # breakpoint halts before the instruction's NOCP fault, as on silicon.
            self.machine.coprocessor.check(uc, address)
            return
        if self.hit is None:
            self.hit = ("breakpoint", address)
        uc.emu_stop()

    def _on_memory(
        self, uc: Any, access: int, address: int, size: int, value: int, user_data: object
    ) -> None:
        if self.hit is None:
            self.hit = ("watchpoint", address)
        # Stop at the next block boundary: uc_emu_stop inside a memory hook
        # would make Unicorn repeat the access.
        self.machine._core.deadline = 0
