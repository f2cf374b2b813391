"""Fast interrupts: mvSetFastInterrupt, mvClearFastInterrupt, mvEnable/DisableFastInterrupt,
mvEnable/DisableAllFastInterrupts.

The emulated core has no secure threads for an interrupt to pre-empt, so fast
handling changes no timing here. The kernel keeps what an application can
observe: the bookkeeping, the checks, and the hung-handler rule. A fast IRQ's
vector must point into app memory, and a centre's IRQ cannot be fast. A fast
handler that stays active for longer than the device's budget (10 ms virtual
by default) is hung: the device ends the app, and every fast-interrupt call
returns UNAVAILABLE until the app restarts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from openvisor.kernel.abi import MvStatus, StatusError
from openvisor.kernel.calls.notifications import IRQ_COUNT, NotificationCentres
from openvisor.kernel.gateway import syscall
from openvisor.kernel.memory import is_executable

if TYPE_CHECKING:
    from openvisor.kernel.kernel import Kernel

SCB_VTOR = 0xE000_ED08
IRQ_EXCEPTION_BASE = 16
"""Exception number of IRQ 0."""
DEFAULT_BUDGET_US = 10_000
SAMPLES_PER_BUDGET = 20
"""Sampler events per budget: each one checks which fast handlers are active."""


@dataclass
class FastInterrupts:
    """Fast-interrupt state: the IRQs marked fast, those enabled, the global gate, the sampler.

    While any IRQ is handled as fast, a machine event samples the active
    exceptions every ``budget_us / SAMPLES_PER_BUDGET`` of virtual time (0.5 ms
    by default). No instruction hook is involved. A fast IRQ found active at
    every sample for more than ``budget_us``, and not pended while inactive
    in between (``Nvic.pended_inactive``), is hung, and the sampler ends the
    CPU slice. So a handler that returns before each next pend is never hung,
    whatever the phase of its period against the samples.

    NOTE: an IRQ pended again while its handler still runs, at every sample
    for the whole budget (an interrupt flood the handler never catches up
    with), counts as hung.
    """

    kernel: Kernel
    fast: set[int] = field(default_factory=set)
    enabled: set[int] = field(default_factory=set)
    all_enabled: bool = True
    budget_us: int = DEFAULT_BUDGET_US
    """Maximum time a fast handler may stay active, in virtual µs (set by the device)."""
    hung: tuple[int, int] | None = None
    """``(irq, active_us)`` of the hung handler the sampler found, until the device takes it."""
    withdrawn: bool = False
    """Flag set while the app shuts down after a hung fast handler. Calls return UNAVAILABLE."""
    active_since: dict[int, int] = field(default_factory=dict)
    """IRQ -> virtual µs since which every sample found its handler active."""
    _sampler: Any = None

    def is_fast(self, irq: int) -> bool:
        """Tell whether ``irq`` was marked fast."""
        return irq in self.fast

    def is_active(self, irq: int) -> bool:
        """Tell whether ``irq`` is fast, enabled and not globally disabled."""
        return self.all_enabled and irq in self.enabled

    def any_active(self) -> bool:
        """Tell whether any IRQ is handled as fast now."""
        return self.all_enabled and bool(self.enabled)

    def arm_sampler(self) -> None:
        """Schedule the next sample on the machine while any IRQ is handled as fast."""
        machine: Any = self.kernel.machine
        if self._sampler is not None or not self.any_active() or self.withdrawn:
            return
        schedule = getattr(machine, "schedule", None)
        if schedule is None:
            return
        interval = max(1, self.budget_us * machine.clock_hz // 1_000_000 // SAMPLES_PER_BUDGET)
        self._sampler = schedule(machine.cycles + interval, self._sample)

    def _sample(self) -> None:
        self._sampler = None
        if not self.any_active() or self.withdrawn:
            self.active_since.clear()
            return
        machine: Any = self.kernel.machine
        now = self.kernel.micros()
        active = machine.nvic.active
        pended_inactive = machine.nvic.pended_inactive
        for irq in sorted(self.enabled):
            exception = IRQ_EXCEPTION_BASE + irq
            # A pend while the handler was not active means that it returned, or had not
            # run, since the last sample: the active time counts from this sample again.
            entered_again = exception in pended_inactive
            pended_inactive.discard(exception)
            if exception not in active:
                self.active_since.pop(irq, None)
                continue
            if entered_again:
                self.active_since[irq] = now
            since = self.active_since.setdefault(irq, now)
            if self.hung is None and now - since > self.budget_us:
                self.hung = (irq, now - since)
                machine.request_stop()
        self.arm_sampler()

    def take_hung(self) -> tuple[int, int] | None:
        """Return and clear what the sampler found: ``(irq, active_us)`` or None."""
        hung, self.hung = self.hung, None
        return hung

    def withdraw(self) -> None:
        """Withdraw fast handling while the app shuts down, so calls return UNAVAILABLE."""
        # NOTE: the device stops the app at once, so no app call can return UNAVAILABLE here.
        self.withdrawn = True

    def app_restarted(self) -> None:
        # The machine reset that follows drops the sampler's event.
        self.fast.clear()
        self.enabled.clear()
        self.all_enabled = True
        self.withdrawn = False
        self.hung = None
        self.active_since.clear()
        self._sampler = None


def _state(kernel: Kernel) -> FastInterrupts:
    state = kernel.family_state(FastInterrupts)
    if state.withdrawn:
        raise StatusError(
            MvStatus.UNAVAILABLE,
            "fast interrupts are withdrawn while the app shuts down after a hung handler",
        )
    return state


def _check_irq(irq: int) -> None:
    if irq >= IRQ_COUNT:
        raise StatusError(MvStatus.INVALIDINTERRUPT, f"IRQ {irq} does not exist")


def _vector_of(kernel: Kernel, irq: int) -> int | None:
    """The handler address in the app's vector table for ``irq``, or None if unreadable."""
    machine = kernel.machine
    if machine is None:
        return None
    vtor = machine.bus_read(SCB_VTOR, 4)
    entry = vtor + 4 * (16 + irq)
    if not is_executable(entry):
        return None
    return int.from_bytes(machine.mem_read(entry, 4), "little")


@syscall("mvSetFastInterrupt")
def set_fast_interrupt(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Mark IRQ ``r0`` fast; its handling changes once it is enabled."""
    state = _state(kernel)
    _check_irq(r0)
    if kernel.family_state(NotificationCentres).irq_in_use(r0):
        raise StatusError(MvStatus.INVALIDINTERRUPT, f"IRQ {r0} serves a notification centre")
    vector = _vector_of(kernel, r0)
    if vector is None or not is_executable(vector):
        raise StatusError(MvStatus.INVALIDVECTOR, f"IRQ {r0} vector is outside app memory")
    state.fast.add(r0)
    return MvStatus.OKAY


@syscall("mvClearFastInterrupt")
def clear_fast_interrupt(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Return IRQ ``r0`` to normal handling."""
    state = _state(kernel)
    _check_irq(r0)
    state.fast.discard(r0)
    state.enabled.discard(r0)
    return MvStatus.OKAY


@syscall("mvEnableFastInterrupt")
def enable_fast_interrupt(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Start fast handling of IRQ ``r0``, which must have been marked fast."""
    state = _state(kernel)
    _check_irq(r0)
    if r0 not in state.fast:
        raise StatusError(MvStatus.INVALIDINTERRUPT, f"IRQ {r0} is not a fast interrupt")
    state.enabled.add(r0)
    state.arm_sampler()
    return MvStatus.OKAY


@syscall("mvDisableFastInterrupt")
def disable_fast_interrupt(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Stop fast handling of IRQ ``r0`` (it stays marked fast)."""
    state = _state(kernel)
    _check_irq(r0)
    if r0 not in state.fast:
        raise StatusError(MvStatus.INVALIDINTERRUPT, f"IRQ {r0} is not a fast interrupt")
    state.enabled.discard(r0)
    return MvStatus.OKAY


@syscall("mvEnableAllFastInterrupts")
def enable_all_fast_interrupts(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Open the global gate; each IRQ keeps its own enable state."""
    state = _state(kernel)
    state.all_enabled = True
    state.arm_sampler()
    return MvStatus.OKAY


@syscall("mvDisableAllFastInterrupts")
def disable_all_fast_interrupts(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Close the global gate for every fast IRQ."""
    _state(kernel).all_enabled = False
    return MvStatus.OKAY
