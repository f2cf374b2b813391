"""Fast interrupts: mvSetFastInterrupt, mvClearFastInterrupt, mvEnable/DisableFastInterrupt,
mvEnable/DisableAllFastInterrupts.

The emulated core has no secure threads for an interrupt to pre-empt, so fast
handling changes no timing here. The kernel keeps what an application can
observe: the bookkeeping and the checks. A fast IRQ's vector must point into
app memory, and a centre's IRQ cannot be fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from openvisor.kernel.abi import MvStatus, StatusError
from openvisor.kernel.calls.notifications import IRQ_COUNT, NotificationCentres
from openvisor.kernel.gateway import syscall
from openvisor.kernel.memory import is_executable

if TYPE_CHECKING:
    from openvisor.kernel.kernel import Kernel

SCB_VTOR = 0xE000_ED08


@dataclass
class FastInterrupts:
    """Fast-interrupt state: the IRQs marked fast, those enabled, and the global gate."""

    kernel: Kernel
    fast: set[int] = field(default_factory=set)
    enabled: set[int] = field(default_factory=set)
    all_enabled: bool = True

    def is_fast(self, irq: int) -> bool:
        """Tell whether ``irq`` was marked fast."""
        return irq in self.fast

    def is_active(self, irq: int) -> bool:
        """Tell whether ``irq`` is fast, enabled and not globally disabled."""
        return self.all_enabled and irq in self.enabled

    def app_restarted(self) -> None:
        self.fast.clear()
        self.enabled.clear()
        self.all_enabled = True


def _state(kernel: Kernel) -> FastInterrupts:
    return kernel.family_state(FastInterrupts)


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
    _check_irq(r0)
    if kernel.family_state(NotificationCentres).irq_in_use(r0):
        raise StatusError(MvStatus.INVALIDINTERRUPT, f"IRQ {r0} serves a notification centre")
    vector = _vector_of(kernel, r0)
    if vector is None or not is_executable(vector):
        raise StatusError(MvStatus.INVALIDVECTOR, f"IRQ {r0} vector is outside app memory")
    _state(kernel).fast.add(r0)
    return MvStatus.OKAY


@syscall("mvClearFastInterrupt")
def clear_fast_interrupt(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Return IRQ ``r0`` to normal handling."""
    _check_irq(r0)
    state = _state(kernel)
    state.fast.discard(r0)
    state.enabled.discard(r0)
    return MvStatus.OKAY


@syscall("mvEnableFastInterrupt")
def enable_fast_interrupt(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Start fast handling of IRQ ``r0``, which must have been marked fast."""
    _check_irq(r0)
    state = _state(kernel)
    if r0 not in state.fast:
        raise StatusError(MvStatus.INVALIDINTERRUPT, f"IRQ {r0} is not a fast interrupt")
    state.enabled.add(r0)
    return MvStatus.OKAY


@syscall("mvDisableFastInterrupt")
def disable_fast_interrupt(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Stop fast handling of IRQ ``r0`` (it stays marked fast)."""
    _check_irq(r0)
    state = _state(kernel)
    if r0 not in state.fast:
        raise StatusError(MvStatus.INVALIDINTERRUPT, f"IRQ {r0} is not a fast interrupt")
    state.enabled.discard(r0)
    return MvStatus.OKAY


@syscall("mvEnableAllFastInterrupts")
def enable_all_fast_interrupts(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Open the global gate; each IRQ keeps its own enable state."""
    _state(kernel).all_enabled = True
    return MvStatus.OKAY


@syscall("mvDisableAllFastInterrupts")
def disable_all_fast_interrupts(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Close the global gate for every fast IRQ."""
    _state(kernel).all_enabled = False
    return MvStatus.OKAY
