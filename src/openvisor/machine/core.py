"""`Machine`: one emulated STM32U585 core with its memory map and peripherals."""

from __future__ import annotations

import ctypes
import logging
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from unicorn import UC_HOOK_BLOCK, UC_HOOK_INTR, UC_HOOK_MEM_INVALID
from unicorn import arm_const as arm
from unicorn import unicorn_const as ucc
from unicorn.unicorn_py3 import unicorn as unicorn_binding

from openvisor.errors import EmulationError
from openvisor.machine import _native
from openvisor.machine import memory_map as mm
from openvisor.machine import nvic as nv
from openvisor.machine.clock import EventQueue, Pacing, ScheduledEvent
from openvisor.machine.coprocessor import CoprocessorAccess
from openvisor.machine.debug import DebugState
from openvisor.machine.exceptions import (
    UFSR_DIVBYZERO,
    UFSR_INVSTATE,
    UFSR_NOCP,
    UFSR_STKOF,
    UFSR_UNALIGNED,
    UFSR_UNDEFINSTR,
    ExceptionUnit,
)
from openvisor.machine.loader import LoadedImage, SymbolTable, load_elf_file, parse_elf, raw_image
from openvisor.machine.memory_access import MemoryAccess
from openvisor.machine.mpu import MemoryProtectionUnit
from openvisor.machine.native_state import NativeState
from openvisor.machine.register_access import REGISTER_IDS, RegisterAccess
from openvisor.machine.results import RunResult
from openvisor.machine.scs import SCR_SLEEPONEXIT, SystemControlSpace
from openvisor.machine.stacklimits import StackLimits
from openvisor.machine.systick import SysTick
from openvisor.machine.tlb import VirtualTlb
from openvisor.machine.traps import Traps

log = logging.getLogger(__name__)

GatewayHandler = Callable[["Machine", int], int]
_Result = TypeVar("_Result")

# QEMU exception numbers that Unicorn passes to the interrupt hook.
EXCP_UDEF = 1
EXCP_SWI = 2
EXCP_DATA_ABORT = 4  # an unaligned exclusive or acquire/release access
EXCP_BKPT = 7
EXCP_EXCEPTION_EXIT = 8
EXCP_NOCP = 17
EXCP_INVSTATE = 18
EXCP_STKOF = 19
EXCP_UNALIGNED = 22
EXCP_DIVBYZERO = 23

_USAGE_FAULTS = {
    EXCP_UDEF: (UFSR_UNDEFINSTR, "undefined instruction"),
    EXCP_DATA_ABORT: (UFSR_UNALIGNED, "unaligned access"),
    EXCP_NOCP: (UFSR_NOCP, "coprocessor access with the FPU disabled"),
    EXCP_INVSTATE: (UFSR_INVSTATE, "invalid EPSR state"),
    EXCP_STKOF: (UFSR_STKOF, "stack limit violation"),
    EXCP_UNALIGNED: (UFSR_UNALIGNED, "unaligned access"),
    EXCP_DIVBYZERO: (UFSR_DIVBYZERO, "division by zero"),
}

GATEWAY_CALL_CYCLES = 160
"""Virtual cycles each gateway call costs on top of its own instructions.

NOTE: an estimate of a secure-call round trip on silicon (about 1 µs at
160 MHz), not a measurement, and the same for every call. Without it a call
would cost only the few instructions of its gateway stub, so an app polling
a call would see time pass 100 to 200 times slower than on hardware."""


def _check_irq_number(irqn: int) -> None:
    if not 0 <= irqn < nv.NUM_IRQS:
        raise EmulationError(f"IRQ number {irqn} is out of range: use 0 to {nv.NUM_IRQS - 1}")


class Machine(RegisterAccess, MemoryAccess):
    """One emulated STM32U585 core: CPU, memory map, exceptions, clock, peripherals.

    Host access to registers and to raw memory comes from `RegisterAccess` and
    `MemoryAccess`.

    Example::

        machine = Machine()
        machine.load_elf("firmware/build/bm_blink.elf")
        machine.reset()
        result = machine.run(max_cycles=160_000_000)
        print(result.reason, machine.micros())
    """

    def __init__(
        self,
        *,
        clock_hz: int = 160_000_000,
        pacing: Pacing = Pacing.FAST,
        tcg_buffer_size: int = 16 * 1024 * 1024,
        gateway_call_cycles: int = GATEWAY_CALL_CYCLES,
    ) -> None:
        if gateway_call_cycles < 0:
            raise EmulationError(
                f"invalid gateway_call_cycles {gateway_call_cycles}: use 0 or more"
            )
        self.clock_hz = clock_hz
        self.pacing = pacing
        self.gateway_call_cycles = gateway_call_cycles
        """Virtual cycles charged for each served gateway call (see GATEWAY_CALL_CYCLES)."""
        self.gateway_handler: GatewayHandler | None = None
        self.image: LoadedImage | None = None
        # Stored flash scan results and the end of the flash bytes written since the last erase.
        self._flash_scans: dict[str, Any] = {}
        self._flash_end = mm.FLASH_BASE
        # Whether reset() or the host has set PC, so a run has a defined start.
        self._started = False

        # The Unicorn binding is only partly typed: the engine is used as Any.
        engine: Any = unicorn_binding.Uc
        try:
            self._uc: Any = engine(ucc.UC_ARCH_ARM, ucc.UC_MODE_THUMB | ucc.UC_MODE_MCLASS)
            self._uc.ctl_set_cpu_model(arm.UC_CPU_ARM_CORTEX_M33)
            self._uc.ctl_set_tcg_buffer_size(tcg_buffer_size)
        except unicorn_binding.UcError as exc:
            raise EmulationError(f"creating the Unicorn Cortex-M33 engine failed: {exc}") from exc
        handle = self._uc._uch
        if handle is None:
            raise EmulationError("Unicorn returned no engine handle")
        self._handle: ctypes.c_void_p = handle
        self.registers = _native.RegisterFile(self._handle)

        self._map_memory()
        self._install_hooks()
        # Data pages without execute in the TLB: stores to SRAM stay on the fast path.
        self.tlb = VirtualTlb(self._uc, self._core)

        self.events = EventQueue()
        self.nvic = nv.Nvic()
        self.exception_unit = ExceptionUnit(self)
        self.systick = SysTick(self)
        self.scs = SystemControlSpace(self)
        self.debug = DebugState(self)
        self.traps = Traps(self)
        self.coprocessor = CoprocessorAccess(self)
        self.stack_limits = StackLimits(self)
        # Stops after IT blocks whose store pended an exception (_store.c),
        # added the first time each one is needed.
        self._it_exits = _native.SiteHooks(
            self._uc, self._handle, self._core, _native.load_library().ov_it_exit_hook
        )
        self._native_state = NativeState(self)

        from openvisor.peripherals.board import Peripherals

        self.peripherals = Peripherals(self)

        self._sleeping = False
        self._stop_requested = False
        self._reset_requested = False
        self._running = False
        # Lets the native run loop take SVCall entries and exception returns
        # (tests compare it with the Python exception model by clearing this).
        self._native_exceptions = True
        self._wake = threading.Event()
        self._wall_anchor: float | None = None
        self._cycle_anchor = 0

    # Memory map

    def _map_memory(self) -> None:
        uc = self._uc
        self._flash = ctypes.create_string_buffer(mm.FLASH_SIZE)
        ctypes.memset(self._flash, 0xFF, mm.FLASH_SIZE)
        self._sram = ctypes.create_string_buffer(mm.SRAM_SIZE)
        self._gateway = ctypes.create_string_buffer(mm.GATEWAY_PAGE_SIZE)
        # Every gateway halfword is SVC #0: a call traps with PC past the SVC.
        struct.pack_into(
            f"<{mm.GATEWAY_PAGE_SIZE // 2}H",
            self._gateway,
            0,
            *([mm.THUMB_SVC0] * (mm.GATEWAY_PAGE_SIZE // 2)),
        )
        uc.mem_map_ptr(
            mm.FLASH_BASE,
            mm.FLASH_SIZE,
            ucc.UC_PROT_READ | ucc.UC_PROT_EXEC,
            ctypes.addressof(self._flash),
        )
        uc.mem_map_ptr(mm.SRAM_BASE, mm.SRAM_SIZE, ucc.UC_PROT_ALL, ctypes.addressof(self._sram))
        uc.mem_map_ptr(
            mm.GATEWAY_BASE,
            mm.GATEWAY_PAGE_SIZE,
            ucc.UC_PROT_EXEC,
            ctypes.addressof(self._gateway),
        )
        uc.mmio_map(
            mm.PERIPHERAL_BASE,
            mm.PERIPHERAL_SIZE,
            self._peripheral_read,
            None,
            self._peripheral_write,
            None,
        )
        uc.mmio_map(mm.PPB_BASE, mm.PPB_SIZE, self._ppb_read, None, self._ppb_write, None)

    def _install_hooks(self) -> None:
        library = _native.load_library()
        core = _native.new_core()
        core.flash = ctypes.addressof(self._flash)
        core.flash_base = mm.FLASH_BASE
        core.flash_size = mm.FLASH_SIZE
        core.sram = ctypes.addressof(self._sram)
        core.sram_base = mm.SRAM_BASE
        core.sram_size = mm.SRAM_SIZE
        core.gateway_base = mm.GATEWAY_BASE
        core.gateway_size = mm.GATEWAY_PAGE_SIZE
        self._core = core
        self._native_loop = _native.NativeLoop(library, self._handle, core)
        _native.add_native_hook(self._handle, UC_HOOK_BLOCK, library.ov_block_hook, core, 1, 0)
        _native.add_native_hook(self._handle, UC_HOOK_INTR, library.ov_interrupt_hook, core, 1, 0)
        # The MPU's protection hook must precede the invalid-access hook.
        self.mpu = MemoryProtectionUnit(self, library)
        self.mpu.install_hook()
        # The invalid-access hook covers everything but SRAM, which is mapped with
        # every permission. A memory hook whose range covers a page keeps Unicorn
        # 2.1.4 from ever marking it dirty, so each store to it would take the slow path.
        sram_end = mm.SRAM_BASE + mm.SRAM_SIZE
        for begin, end in ((0, mm.SRAM_BASE - 1), (sram_end, 0xFFFF_FFFF)):
            _native.add_native_hook(
                self._handle, UC_HOOK_MEM_INVALID, library.ov_invalid_hook, core, begin, end
            )

    # While a trap hook has stopped the run, the abandoned access has no effect.

    def _peripheral_read(self, uc: Any, offset: int, size: int, user_data: object) -> int:
        if self.traps.stopping:
            return 0
        return self.peripherals.bus.read(mm.PERIPHERAL_BASE + offset, size)

    def _peripheral_write(
        self, uc: Any, offset: int, size: int, value: int, user_data: object
    ) -> None:
        if not self.traps.stopping:
            self.peripherals.bus.write(mm.PERIPHERAL_BASE + offset, size, value)
            self._after_store(mm.PERIPHERAL_BASE + offset)

    def _ppb_read(self, uc: Any, offset: int, size: int, user_data: object) -> int:
        if self._core.nvic_changed:
            self._sync_native()
        if not self.scs.app_may_access(offset, write=False):
            return 0
        return self.scs.read(offset, size)

    def _ppb_write(self, uc: Any, offset: int, size: int, value: int, user_data: object) -> None:
        if self._core.nvic_changed:
            self._sync_native()
        if not self.scs.app_may_access(offset, write=True):
            return
        publishes = self._native_state.publishes
        self.scs.write(offset, size, value)
        # The write may have changed NVIC and SCB state that the native run loop
        # relies on. Writes that pend or enable an exception publish it themselves.
        if self._native_state.publishes == publishes:
            self._publish_priorities()
        self._after_store(mm.PPB_BASE + offset)

    def _hook_it_exit(self) -> None:
        """Add the stop hook after an IT block that ``ov_store_stop`` requested.

        The first exception that a store in that IT block pends waits for
        the block end; later ones stop right after the IT block. At most
        ``IT_EXITS`` sites get a hook, because Unicorn walks every code hook
        on each hooked instruction it runs.
        """
        core = self._core
        address = int(core.it_exit_request)
        core.it_exit_request = 0
        count = int(core.it_exit_count)
        if address in self._it_exits.sites:
            return
        if count >= _native.IT_EXITS:
            log.debug("Skip IT exit hook: limit reached (pc=%#010x, hooks=%d)", address, count)
            return
        self._it_exits.add(address)
        core.it_exits[count] = address
        core.it_exit_count = count + 1
        log.debug("Hook IT exit (pc=%#010x, hooks=%d)", address, count + 1)

    def _after_store(self, address: int) -> None:
        """Take an exception that a store just made preempt before the next instruction.

        See ``_store.c``. While a debugger watches memory or code, the
        exception waits for the next stop instead.
        """
        core = self._core
        if core.pending_prio < core.active_prio and self._running and not self.debug.hooked:
            self._native_loop.store_stop(address)

    # Loading and reset

    def load_elf(self, path: str | Path | bytes) -> LoadedImage:
        """Load an ELF image (a path or the file's bytes) into flash and SRAM."""
        image = parse_elf(path) if isinstance(path, bytes) else load_elf_file(path)
        self.install_image(image)
        return image

    def load_image(self, data: bytes) -> LoadedImage:
        """Load a raw flash image placed at 0x0800_0000."""
        image = raw_image(data)
        self.install_image(image)
        return image

    def install_image(self, image: LoadedImage) -> None:
        """Erase flash and place an already parsed image (kept to boot it again cheaply)."""
        self.traps.disarm()
        ctypes.memset(self._flash, 0xFF, mm.FLASH_SIZE)
        self._flash_end = mm.FLASH_BASE
        for segment in image.segments:
            self.mem_write(segment.address, segment.data)
        # Erased flash plus these segments gives the same bytes on every install.
        self._flash_scans = image.scans
        self._uc.ctl_remove_cache(mm.FLASH_BASE, mm.FLASH_BASE + mm.FLASH_SIZE)
        self._core.clear_cache()
        self.stack_limits.watch_image()
        self._it_exits.replace([])
        self._core.it_exit_count = 0
        self._core.it_exit_request = 0
        self.traps.watch_sev()
        self.coprocessor.watch_image()
        self.image = image
        log.info("Load image (segments=%d, entry=%s)", len(image.segments), image.entry)

    def scan_flash(self, name: str, scan: Callable[[bytes, int], _Result]) -> _Result:
        """Return ``scan(code, FLASH_BASE)`` over written flash, running it once per image.

        The scanned code ends 4 bytes past the last written byte, so a 32-bit
        encoding whose second halfword is erased flash (0xFFFF) is still seen,
        and the erased rest is skipped. The result is stored under ``name`` on
        the installed image until a host write to flash, which starts an empty
        store for this machine. Callers must not change the returned value.
        """
        result = self._flash_scans.get(name)
        if result is None:
            end = min(self._flash_end + 4, mm.FLASH_BASE + mm.FLASH_SIZE)
            result = scan(self.mem_read(mm.FLASH_BASE, end - mm.FLASH_BASE), mm.FLASH_BASE)
            self._flash_scans[name] = result
        return result

    @property
    def symbols(self) -> SymbolTable:
        """Symbols of the loaded ELF image (empty for raw images)."""
        return self.image.symbols if self.image is not None else SymbolTable()

    def reset(self) -> None:
        """Reset the core and peripherals and boot from the vector table at 0x0800_0000.

        Virtual time keeps running across resets; scheduled events are dropped.
        """
        self.events.clear()
        self.traps.disarm()
        self.nvic.reset()
        self.exception_unit.reset()
        self.exception_unit.vtor = mm.FLASH_BASE
        self.systick.reset()
        self.scs.reset()
        self.coprocessor.update(self.scs.cpacr)
        self.mpu.reset()
        self.peripherals.reset()
        initial_sp = self.read_word(mm.FLASH_BASE) or 0
        reset_vector = self.read_word(mm.FLASH_BASE + 4) or 0
        self.exception_unit._switch_mode(
            ipsr=0, control=0, msp=initial_sp & ~3, psp=0, xpsr=1 << 24
        )
        pairs = [(arm.UC_ARM_REG_R0 + i, 0) for i in range(13)]
        pairs += [
            (arm.UC_ARM_REG_LR, 0xFFFFFFFF),
            (arm.UC_ARM_REG_PRIMASK, 0),
            (arm.UC_ARM_REG_BASEPRI, 0),
            (arm.UC_ARM_REG_FAULTMASK, 0),
            (arm.UC_ARM_REG_FPSCR, 0),
        ]
        self.registers.write_many(pairs)
        self.pc = reset_vector & ~1
        self.stack_limits.clear()
        self._sleeping = False
        self._reset_requested = False
        # Instructions counted ahead of a store stop will never run: their
        # cycles stay spent.
        self._core.credit = 0
        self._publish_priorities()
        log.info("Reset core (sp=%#010x, pc=%#010x)", initial_sp, reset_vector)

    # Time, events and interrupts

    @property
    def cycles(self) -> int:
        """Virtual cycles since power-on: instructions, gateway call costs and idle time."""
        return int(self._core.count)

    def micros(self) -> int:
        """Virtual microseconds since power-on."""
        return int(self._core.count) * 1_000_000 // self.clock_hz

    def schedule(self, at_cycle: int, callback: Callable[[], None]) -> ScheduledEvent:
        """Run `callback()` when virtual time reaches `at_cycle`; return a cancellable event."""
        event = ScheduledEvent(at_cycle, callback)
        self.events.push(event)
        if at_cycle < self._core.deadline:
            self._core.deadline = max(at_cycle, self._core.count)
        return event

    def pend_irq(self, irqn: int) -> None:
        """Pend external interrupt `irqn` (0-124); call between runs or from a callback."""
        _check_irq_number(irqn)
        if self._core.nvic_changed:
            self._sync_native()  # the active set must be current for Nvic.pended_inactive
        self.nvic.set_pending(irqn + nv.IRQ_BASE)
        self.exceptions_changed()

    def set_irq_level(self, irqn: int, asserted: bool) -> None:
        """Drive the level-sensitive interrupt line of external interrupt `irqn` (0-124).

        Peripherals call this whenever a flag or an interrupt enable changes:
        an asserted line pends the IRQ while it is not active and again when
        its handler returns (see `Nvic.set_level`).
        """
        _check_irq_number(irqn)
        exception = irqn + nv.IRQ_BASE
        if asserted == (exception in self.nvic.levels):
            return
        if self._core.nvic_changed:
            self._sync_native()  # the active set must be current for the sampling rule
        self.nvic.set_level(exception, asserted)
        if asserted:
            self.exceptions_changed()
        else:
            self._native_state.publish_levels()

    def exceptions_changed(self) -> None:
        """Let the native hook see new pending or active state on its next block."""
        self._publish_priorities()

    def _publish_priorities(self) -> None:
        self._native_state.publish()

    def _sync_native(self) -> None:
        """Apply the exception entries and returns of the native run loop to the NVIC."""
        self._native_state.sync()

    def current_exception(self) -> int:
        """Return IPSR: the number of the exception being handled, 0 in Thread mode."""
        return self.registers.read(arm.UC_ARM_REG_IPSR) & 0x1FF

    def request_stop(self) -> None:
        """End the current `run` at the next instruction boundary; safe from any thread."""
        self._stop_requested = True
        self._wake.set()
        # A zero deadline stops the native hook at the next block boundary.
        # uc_emu_stop from inside an MMIO callback would make Unicorn run the
        # accessing instruction again after the stop.
        self._core.deadline = 0

    def request_system_reset(self) -> None:
        """Record an application request for a system reset (AIRCR.SYSRESETREQ)."""
        self._reset_requested = True
        self._core.deadline = 0

    @property
    def sleeping(self) -> bool:
        """Whether the core waits in WFI/WFE for an interrupt."""
        return self._sleeping

    # Running

    def run(self, *, max_cycles: int) -> RunResult:
        """Execute up to `max_cycles` virtual cycles; see `RunReason` for the ways it ends."""
        if max_cycles < 0:
            raise EmulationError(f"max_cycles={max_cycles} must be zero or more")
        self._check_started()
        from openvisor.machine.runner import run_loop

        return run_loop(self, max_cycles)

    def step(self) -> RunResult:
        """Execute exactly one instruction (or take one pending exception)."""
        self._check_started()
        from openvisor.machine.runner import step_once

        return step_once(self)

    def _check_started(self) -> None:
        if not self._started:
            raise EmulationError(
                "the machine was never reset, so PC is 0x00000000 and no code would run: "
                "call load_elf() or load_image() and then reset() before run() or step()"
            )

    # Debugging

    def add_breakpoint(self, address: int) -> None:
        """Stop runs with BREAKPOINT before the instruction at `address` executes."""
        self.debug.add_breakpoint(address & ~1)

    def remove_breakpoint(self, address: int) -> None:
        """Remove a breakpoint added with `add_breakpoint`."""
        self.debug.remove_breakpoint(address & ~1)

    def add_watchpoint(self, address: int, size: int, kind: str) -> None:
        """Stop runs with WATCHPOINT after an access ("read", "write", "access") to a range."""
        self.debug.add_watchpoint(address, size, kind)

    def remove_watchpoint(self, address: int, size: int, kind: str) -> None:
        """Remove a watchpoint added with `add_watchpoint`."""
        self.debug.remove_watchpoint(address, size, kind)

    def _pace(self, target_cycle: int) -> None:
        """In real-time pacing, wait until wall time reaches `target_cycle`."""
        if self.pacing is not Pacing.REALTIME:
            return
        now = time.monotonic()
        if self._wall_anchor is None:
            self._wall_anchor = now
            self._cycle_anchor = self._core.count
        due = self._wall_anchor + (target_cycle - self._cycle_anchor) / self.clock_hz
        if due > now:
            self._wake.wait(due - now)
            self._wake.clear()


__all__ = ["REGISTER_IDS", "SCR_SLEEPONEXIT", "Machine"]
