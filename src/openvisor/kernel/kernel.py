"""The microvisor kernel: serves one application's system calls on one machine."""

from __future__ import annotations

import importlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Protocol, TypeVar

from openvisor.kernel import gateway
from openvisor.kernel.abi import MvStatus, MvWakeReason
from openvisor.kernel.handles import HandleTable
from openvisor.kernel.memory import AppMemory, MemoryPort

log = logging.getLogger(__name__)

T = TypeVar("T")

# IPSR values of the fault handlers: HardFault, MemManage, BusFault, UsageFault,
# SecureFault (ARMv8-M exception numbers 3-7).
FAULT_EXCEPTIONS = range(3, 8)


class MachinePort(MemoryPort, Protocol):
    """The part of :class:`openvisor.machine.Machine` the kernel uses."""

    gateway_handler: Any

    def reg_read(self, name: str) -> int: ...

    def current_exception(self) -> int: ...

    def bus_read(self, address: int, size: int = 4) -> int: ...

    def bus_write(self, address: int, size: int, value: int) -> None: ...

    def micros(self) -> int: ...

    def pend_irq(self, irqn: int) -> None: ...

    def request_stop(self) -> None: ...


class ExitKind(Enum):
    """Reason the application stopped, set by a system call or a fault."""

    RESTART = "restart"
    TESTING_COMPLETE = "testing-complete"
    DEEP_SLEEP = "deep-sleep"
    CRASH = "crash"


@dataclass
class AppExit:
    """A request, made during a call, to end the running application.

    The device acts on it after the current run returns: it restarts the app
    with ``wake_reason`` after ``delay_us`` of virtual time, or ends the run
    (testing complete).
    """

    kind: ExitKind
    wake_reason: MvWakeReason = MvWakeReason.COLDBOOT
    delay_us: int = 0
    status: int = 0
    detail: str = ""
    fault_address: int | None = None


@dataclass
class ClockSettings:
    """Bus frequencies the clock calls report, in Hz (the microvisor owns clock setup)."""

    sysclk_hz: int = 160_000_000
    hclk_hz: int = 160_000_000
    pclk1_hz: int = 160_000_000
    pclk2_hz: int = 160_000_000


@dataclass
class KernelSettings:
    """Kernel behaviour that a device or test may change."""

    clocks: ClockSettings = field(default_factory=ClockSettings)
    factory_test: bool = False
    """Factory test mode: ``mvTestingComplete`` ends the run and sets the exit status."""
    wall_time_from_host: bool = True
    """Set wall time from the host clock at boot (no cloud); else TIMENOTSET until a sync."""
    deep_sleep_wake_s: float = 60.0
    """Virtual seconds a device stays in deep sleep before it wakes (check-in period)."""


class Kernel:
    """Serves the system calls of the application running on one machine.

    The kernel owns the handles, the per-family state (notification centres,
    logging, external flash, and the network families in ``kernel.net``) and
    the virtual clock offsets. The device owns the machine and decides what
    happens when the app stops.

    Example::

        kernel = Kernel(device_id="UV" + "0" * 32, state_dir=tmp)
        kernel.attach(machine)      # installs machine.gateway_handler
        machine.run(max_cycles=...)
        exit = kernel.take_exit()   # a restart, deep sleep or testing complete
    """

    def __init__(
        self,
        *,
        device_id: str,
        state_dir: Path | None = None,
        link: Any = None,
        settings: KernelSettings | None = None,
        wake_reason: MvWakeReason = MvWakeReason.COLDBOOT,
        seed: int | None = None,
    ) -> None:
        self.device_id = device_id
        self.state_dir = state_dir
        self.link = link
        self.settings = settings or KernelSettings()
        self.wake_reason = wake_reason
        self.handles = HandleTable(seed=seed)
        self.machine: MachinePort | None = None
        self.memory: AppMemory = AppMemory(_DetachedMemory())

        self._families: dict[type, Any] = {}
        self._micros_offset = 0
        self._wall_offset_us: int | None = None
        self._exit: AppExit | None = None
        self._pending: queue.SimpleQueue[Callable[[Kernel], None]] = queue.SimpleQueue()
        self.wakeup = threading.Event()
        """Set whenever work arrives from another thread, so an idle device runs again."""
        self.last_call_us = 0
        """Virtual time of the latest system call (the watchdog's kick)."""
        self.debugger_attached = False
        """Set while GDB is attached; the network reasons then include DEBUGGERATTACHED."""
        self.test_log_listeners: list[Callable[[str], None]] = []
        self.led_listeners: list[Callable[[bool], None]] = []
        self.network_busy_probe: Callable[[], bool] | None = None
        """Set by the network families: returns True while the app has a network request."""

        if self.settings.wall_time_from_host:
            self._wall_offset_us = int(time.time() * 1_000_000)
        _load_families()

    # Machine.

    def attach(self, machine: MachinePort, *, now_us: int | None = None) -> None:
        """Serve ``machine``'s calls from now on. Virtual time carries on from where it was.

        ``now_us`` is the kernel time to carry on from, read before a machine reset
        that may have cleared the machine's own clock.
        """
        now = self.micros() if now_us is None else now_us
        self.machine = machine
        self.memory = AppMemory(machine)
        self._micros_offset = now - machine.micros()
        machine.gateway_handler = self.handle_gateway

    def handle_gateway(self, machine: MachinePort, address: int) -> int:
        """Serve one call trapped at ``address``; the machine's gateway hook."""
        self.last_call_us = self.micros()
        args = (
            machine.reg_read("r0"),
            machine.reg_read("r1"),
            machine.reg_read("r2"),
            machine.reg_read("r3"),
        )
        try:
            return gateway.dispatch(self, address, args)
        except gateway.UnknownEntryError as exc:
            log.info("Crash app on unknown gateway entry (address=%#010x)", exc.address)
            self.request_exit(
                AppExit(
                    ExitKind.CRASH,
                    MvWakeReason.APPLICATIONCRASH,
                    detail=str(exc),
                    fault_address=exc.address,
                )
            )
            return int(MvStatus.PARAMETERFAULT)

    def in_isr(self) -> bool:
        """Tell whether the app is in handler mode (IPSR non-zero)."""
        if self.machine is None:
            return False
        return self.machine.current_exception() != 0

    def pend_irq(self, irqn: int) -> None:
        """Pend an external interrupt of the app (emulation thread only)."""
        if self.machine is not None:
            self.machine.pend_irq(irqn)

    def network_busy(self) -> bool:
        """Tell whether the app has network requests (power calls then return MICROVISORBUSY)."""
        return self.network_busy_probe is not None and self.network_busy_probe()

    # Time.

    def micros(self) -> int:
        """Microseconds since the microvisor started; runs on across app restarts."""
        if self.machine is None:
            return self._micros_offset
        return self._micros_offset + self.machine.micros()

    def advance(self, micros: int) -> None:
        """Move virtual time forward while no app code runs (deep sleep, restart back-off)."""
        self._micros_offset += max(0, micros)

    def wall_time_us(self) -> int | None:
        """Microseconds since the Unix epoch, or None before the first time sync."""
        if self._wall_offset_us is None:
            return None
        return self._wall_offset_us + self.micros()

    def sync_wall_time(self, unix_us: int) -> None:
        """Set wall time from the cloud (``unix_us`` is now, in µs since the epoch)."""
        self._wall_offset_us = unix_us - self.micros()

    def clear_wall_time(self) -> None:
        """Forget wall time, so ``mvGetWallTime`` returns TIMENOTSET until the next sync."""
        self._wall_offset_us = None

    # Application lifetime.

    def request_exit(self, app_exit: AppExit) -> None:
        """End the app after the current call returns; the first request wins."""
        if self._exit is None:
            self._exit = app_exit
        if self.machine is not None:
            self.machine.request_stop()

    def take_exit(self) -> AppExit | None:
        """Return and clear the pending exit request."""
        app_exit, self._exit = self._exit, None
        return app_exit

    def app_restarted(self, wake_reason: MvWakeReason) -> None:
        """Drop everything the previous app instance held; it starts again now."""
        self.wake_reason = wake_reason
        self.handles.clear()
        self._exit = None
        for family in list(self._families.values()):
            hook = getattr(family, "app_restarted", None)
            if hook is not None:
                hook()

    def flush(self) -> None:
        """Persist state that changed (called between runs, never during a call)."""
        for family in list(self._families.values()):
            hook = getattr(family, "flush", None)
            if hook is not None:
                hook()

    # Per-family state.

    def family_state(self, cls: type[T]) -> T:
        """Return this kernel's one ``cls(kernel)`` instance, created on first use."""
        state = self._families.get(cls)
        if state is None:
            state = cls(self)  # type: ignore[call-arg]
            self._families[cls] = state
        return state

    # Work from other threads.

    def call_soon(self, fn: Callable[[Kernel], None]) -> None:
        """Run ``fn(kernel)`` on the emulation thread before the next run (thread safe).

        Link callbacks use it to write app buffers, post notifications and pend
        IRQs, which must never happen while the machine runs.
        """
        self._pending.put(fn)
        self.wakeup.set()

    def run_pending(self) -> int:
        """Run the work queued by :meth:`call_soon`; return how many items ran."""
        count = 0
        while True:
            try:
                fn = self._pending.get_nowait()
            except queue.Empty:
                return count
            count += 1
            try:
                fn(self)
            except Exception:
                log.exception("Queued kernel work failed (device=%s)", self.device_id)


class _DetachedMemory:
    """Memory port of a kernel with no machine yet: every access fails."""

    def mem_read(self, address: int, size: int) -> bytes:
        raise RuntimeError(f"no machine attached: cannot read {size} bytes at {address:#010x}")

    def mem_write(self, address: int, data: bytes) -> None:
        raise RuntimeError(
            f"no machine attached: cannot write {len(data)} bytes at {address:#010x}"
        )


_families_loaded = False


def _load_families() -> None:
    """Import every call-family module once, so their handlers are registered."""
    global _families_loaded
    if _families_loaded:
        return
    importlib.import_module("openvisor.kernel.calls")
    try:
        importlib.import_module("openvisor.kernel.net")
    except ModuleNotFoundError as exc:
        if exc.name != "openvisor.kernel.net":
            raise
        log.debug("No network call families installed (openvisor.kernel.net missing)")
    _families_loaded = True
