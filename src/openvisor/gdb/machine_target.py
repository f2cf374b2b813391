"""The debug target view of an ``openvisor.machine.Machine``.

:class:`MachineTarget` implements :class:`openvisor.gdb.target.DebugTarget`
on the emulator: registers by name, raw memory within the application's map,
breakpoints and watchpoints kept by the emulator (flash is never written),
single steps, and the translation of the machine's run results into stop
events with the signal each fault is reported with.

With ``drive=True`` the target runs the core itself on ``resume``. Inside a
device (``drive=False``) the device runs the core in its own slices and hands
each result to :meth:`MachineTarget.classify`; ``resume`` then only reports a
stop that :meth:`MachineTarget.hold` recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from openvisor.errors import DebugError, OpenvisorError
from openvisor.gdb.target import Signal, StopEvent, StopKind, WatchKind, signal_for_fault
from openvisor.machine import Machine, RunReason, RunResult

log = logging.getLogger(__name__)

# System control block registers (Armv8-M ARM, B3.2): vector table offset and
# the configurable fault status register with MMFSR, BFSR and UFSR.
SCB_VTOR = 0xE000_ED08
SCB_CFSR = 0xE000_ED28
# Exception numbers of HardFault, MemManage, BusFault, UsageFault and SecureFault.
FAULT_EXCEPTIONS = (3, 4, 5, 6, 7)
_FAULT_NAMES = {3: "hardfault", 4: "memmanage", 5: "busfault", 6: "usagefault", 7: "securefault"}
# CFSR bits by the signal their fault reports with, most specific first.
_CFSR_CAUSES = (
    (1 << 25, "divbyzero"),
    (1 << 24, "unaligned"),
    (1 << 16, "undefinstr"),
    (1 << 17, "invstate"),
    (1 << 18, "invpc"),
    (1 << 19, "nocp"),
    (0xFF << 8, "busfault"),
    (0xFF, "memmanage"),
)


class MachineTarget:
    """A :class:`DebugTarget` over the device's current machine.

    Example::

        target = MachineTarget(lambda: machine)
        target.insert_breakpoint(0x0800_0370)
        event = target.resume(1_000_000)    # StopEvent(BREAKPOINT) or None
    """

    def __init__(
        self,
        machine: Callable[[], Machine | None],
        *,
        restart: Callable[[], None] | None = None,
        drive: bool = True,
    ) -> None:
        self._machine = machine
        self._restart = restart
        self._drive = drive
        self._pending_stop: StopEvent | None = None
        self._breakpoints: set[int] = set()
        # Fault handler entries, caught like a debug probe's vector catch.
        self._catches: set[int] = set()
        self._watchpoints: set[tuple[int, int, WatchKind]] = set()

    @property
    def machine(self) -> Machine:
        """The machine the application runs on now (it may change across app restarts)."""
        machine = self._machine()
        if machine is None:
            raise DebugError("no application is loaded on the device yet: wait for it to boot")
        return machine

    # -- registers and memory -------------------------------------------------

    def read_register(self, name: str) -> int:
        """Return a register by its target-description name."""
        machine = self.machine
        try:
            if name.startswith("d"):
                # D<n> is the pair S<2n+1>:S<2n> (Armv8-M FPU register file).
                n = int(name[1:])
                low = int(machine.reg_read(f"s{2 * n}")) & 0xFFFF_FFFF
                high = int(machine.reg_read(f"s{2 * n + 1}")) & 0xFFFF_FFFF
                return low | high << 32
            return int(machine.reg_read(name)) & 0xFFFF_FFFF
        except OpenvisorError as exc:
            raise DebugError(f"register {name!r} cannot be read on this core: {exc}") from exc

    def write_register(self, name: str, value: int) -> None:
        """Set a register by its target-description name."""
        machine = self.machine
        try:
            if name.startswith("d"):
                n = int(name[1:])
                machine.reg_write(f"s{2 * n}", value & 0xFFFF_FFFF)
                machine.reg_write(f"s{2 * n + 1}", (value >> 32) & 0xFFFF_FFFF)
                return
            machine.reg_write(name, value & 0xFFFF_FFFF)
        except OpenvisorError as exc:
            raise DebugError(f"register {name!r} cannot be written on this core: {exc}") from exc

    def read_memory(self, address: int, length: int) -> bytes:
        """Return application memory (range checked by the stub)."""
        try:
            return bytes(self.machine.mem_read(address, length))
        except OpenvisorError as exc:
            raise DebugError(f"reading {length} bytes at {address:#010x} failed: {exc}") from exc

    def write_memory(self, address: int, data: bytes) -> None:
        """Write application SRAM (range checked by the stub)."""
        try:
            self.machine.mem_write(address, data)
        except OpenvisorError as exc:
            raise DebugError(f"writing {len(data)} bytes at {address:#010x} failed: {exc}") from exc

    # -- breakpoints and watchpoints --------------------------------------------

    def insert_breakpoint(self, address: int) -> None:
        """Stop before the instruction at ``address``; the emulator keeps the address."""
        address &= ~1
        if address not in self._breakpoints and address not in self._catches:
            self.machine.add_breakpoint(address)
        self._breakpoints.add(address)

    def remove_breakpoint(self, address: int) -> None:
        """Remove a breakpoint; removing an unknown one is not an error."""
        address &= ~1
        if address in self._breakpoints:
            self._breakpoints.discard(address)
            if address not in self._catches:
                self.machine.remove_breakpoint(address)

    def insert_watchpoint(self, address: int, length: int, kind: WatchKind) -> None:
        """Stop after a matching access to ``[address, address + length)``."""
        self.machine.add_watchpoint(address, max(length, 1), _ACCESS[kind])
        self._watchpoints.add((address, max(length, 1), kind))

    def remove_watchpoint(self, address: int, length: int, kind: WatchKind) -> None:
        """Remove a watchpoint set with the same arguments; an unknown one is ignored."""
        key = (address, max(length, 1), kind)
        if key in self._watchpoints:
            self.machine.remove_watchpoint(address, key[1], _ACCESS[kind])
            self._watchpoints.discard(key)

    def clear_points(self) -> None:
        """Remove every breakpoint, watchpoint and fault catch (GDB went away)."""
        machine = self._machine()
        if machine is not None:
            for address in self._breakpoints | self._catches:
                machine.remove_breakpoint(address)
            for address, length, kind in self._watchpoints:
                machine.remove_watchpoint(address, length, _ACCESS[kind])
        self._breakpoints.clear()
        self._catches.clear()
        self._watchpoints.clear()

    def catch_faults(self) -> None:
        """Stop when the core enters a fault handler, whichever handler the vector table names.

        Call before the core runs: the vector table may change when the
        application restarts or is updated.
        """
        machine = self.machine
        vtor = machine.bus_read(SCB_VTOR) & ~0x7F
        handlers = set()
        for exception in FAULT_EXCEPTIONS:
            vector = machine.read_word(vtor + 4 * exception)
            if vector:
                handlers.add(vector & ~1)
        for address in self._catches - handlers:
            if address not in self._breakpoints:
                machine.remove_breakpoint(address)
        for address in handlers - self._catches:
            if address not in self._breakpoints:
                machine.add_breakpoint(address)
        self._catches = handlers

    # -- run control ------------------------------------------------------------

    def step(self) -> StopEvent:
        """Execute one instruction; a fault or watchpoint it triggers is reported as such."""
        self.catch_faults()
        result = self.machine.step()
        event = self.classify(result)
        if event is None or event.kind is StopKind.BREAKPOINT:
            return StopEvent(StopKind.STEP)
        return event

    def resume(self, max_cycles: int) -> StopEvent | None:
        """Run at most ``max_cycles`` (or report a held stop); None while still running."""
        if self._pending_stop is not None:
            event, self._pending_stop = self._pending_stop, None
            return event
        if not self._drive:
            return None
        self.catch_faults()
        return self.classify(self.machine.run(max_cycles=max_cycles))

    def reset(self) -> None:
        """Restart the application with wake reason DEBUGGERRESTART and hold it at reset."""
        self._pending_stop = None
        if self._restart is not None:
            self._restart()
        else:
            self.machine.reset()

    # -- device-driven mode -----------------------------------------------------

    @property
    def pending(self) -> bool:
        """Whether a stop is recorded and not yet reported."""
        return self._pending_stop is not None

    def hold(self, event: StopEvent) -> None:
        """Record a stop found by the device, for the next ``resume`` to report."""
        self._pending_stop = event

    def clear_hold(self) -> None:
        """Forget a recorded stop (the application restarts or runs on)."""
        self._pending_stop = None

    def classify(self, result: RunResult) -> StopEvent | None:
        """Translate a machine run result into a stop event; None when the core runs on."""
        if result.fault is not None:
            kind = result.fault.kind.value
            signal = signal_for_fault(kind)
            log.info(
                "Stop on fault (kind=%s, pc=%#010x, signal=%s)",
                kind,
                result.fault.pc,
                signal.name,
            )
            return StopEvent(StopKind.FAULT, signal, description=result.fault.description)

        address = result.address or 0
        if result.reason is RunReason.WATCHPOINT:
            return StopEvent(
                StopKind.WATCHPOINT,
                Signal.SIGTRAP,
                watch_kind=self._watch_kind_at(address),
                watch_address=address,
            )
        if result.reason is RunReason.BREAKPOINT:
            if address in self._catches and address not in self._breakpoints:
                return self._caught_fault()
            return StopEvent(StopKind.BREAKPOINT, Signal.SIGTRAP)
        if result.reason is RunReason.STEP:
            return StopEvent(StopKind.STEP, Signal.SIGTRAP)
        # BUDGET, SLEEP, STOP and RESET leave the core running under the debugger,
        # so the device acts on them as usual.
        return None

    def _caught_fault(self) -> StopEvent | None:
        machine = self.machine
        exception = machine.current_exception()
        if exception not in FAULT_EXCEPTIONS:
            # The handler is shared with an interrupt (Default_Handler): run on.
            return None
        cfsr = machine.bus_read(SCB_CFSR)
        cause = next((name for mask, name in _CFSR_CAUSES if cfsr & mask), "")
        kind = cause or _FAULT_NAMES[exception]
        signal = signal_for_fault(kind)
        log.info(
            "Stop on fault handler entry (exception=%d, cfsr=%#010x, signal=%s)",
            exception,
            cfsr,
            signal.name,
        )
        return StopEvent(StopKind.FAULT, signal, description=kind)

    def _watch_kind_at(self, address: int) -> WatchKind:
        for start, length, kind in self._watchpoints:
            if start <= address < start + length:
                return kind
        return WatchKind.WRITE


_ACCESS = {WatchKind.WRITE: "write", WatchKind.READ: "read", WatchKind.ACCESS: "access"}
