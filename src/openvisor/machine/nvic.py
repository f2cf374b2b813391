"""Exception state of the core: priorities, enables, pending and active sets.

Numbers follow ARMv8-M: 1 Reset, 2 NMI, 3 HardFault, 4 MemManage,
5 BusFault, 6 UsageFault, 7 SecureFault, 11 SVCall, 12 DebugMonitor,
14 PendSV, 15 SysTick, 16 + n external interrupt n (IRQn).
"""

from __future__ import annotations

NMI = 2
HARDFAULT = 3
MEMMANAGE = 4
BUSFAULT = 5
USAGEFAULT = 6
SECUREFAULT = 7
SVCALL = 11
DEBUGMONITOR = 12
PENDSV = 14
SYSTICK = 15
IRQ_BASE = 16

NUM_IRQS = 125  # STM32U585: IRQn 0 (WWDG) to 124 (FMAC)
NUM_EXCEPTIONS = IRQ_BASE + NUM_IRQS

# The STM32U5 implements 4 priority bits (__NVIC_PRIO_BITS = 4): the low
# nibble of every priority byte reads as zero.
PRIORITY_MASK = 0xF0

# No exception is active: the thread runs at a priority above every level.
THREAD_PRIORITY = 256

# SHCSR enable bits for the configurable faults.
SHCSR_ENABLE_BITS = {
    MEMMANAGE: 1 << 16,
    BUSFAULT: 1 << 17,
    USAGEFAULT: 1 << 18,
    SECUREFAULT: 1 << 19,
}

# SHCSR active and pended bits (read side), per exception.
SHCSR_ACTIVE_BITS = {
    MEMMANAGE: 1 << 0,
    BUSFAULT: 1 << 1,
    HARDFAULT: 1 << 2,
    USAGEFAULT: 1 << 3,
    SECUREFAULT: 1 << 4,
    NMI: 1 << 5,
    SVCALL: 1 << 7,
    DEBUGMONITOR: 1 << 8,
    PENDSV: 1 << 10,
    SYSTICK: 1 << 11,
}
SHCSR_PENDED_BITS = {
    USAGEFAULT: 1 << 12,
    MEMMANAGE: 1 << 13,
    BUSFAULT: 1 << 14,
    SVCALL: 1 << 15,
    SECUREFAULT: 1 << 20,
    HARDFAULT: 1 << 21,
}
# The pended bits that non-secure software may set and clear.
SHCSR_WRITABLE_PENDED = (USAGEFAULT, MEMMANAGE, BUSFAULT, SVCALL)


class Nvic:
    """Priorities, enables, pending and active state of every exception.

    The register views (ISER, ISPR, IPR, SHPR, SHCSR, ICSR) live in
    `openvisor.machine.scs`. This class contains the state and the rules
    that pick the exception to take, and the event register that WFE
    waits on: exception entry and return set it, SEV sets it (a code hook
    in `openvisor.machine.traps`), and with SCR.SEVONPEND so does any
    exception that becomes pending, enabled or not.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Return every exception to its reset state."""
        self.priority = [0] * NUM_EXCEPTIONS
        self.priority[NMI] = -2
        self.priority[HARDFAULT] = -1
        self.enabled = [False] * NUM_EXCEPTIONS
        self.pending: set[int] = set()
        self.active: set[int] = set()
        self.levels: set[int] = set()
        """External interrupts whose level-sensitive line a peripheral asserts."""
        self.pended_inactive: set[int] = set()
        """Exceptions pended while not active: each one returned (or never ran) before
        that pend. Readers remove what they have seen (the fast-interrupt sampler)."""
        self.prigroup = 0
        self.shcsr_enables = 0
        self.changed = True
        self.event = False
        self.sevonpend = False
        self.waiting_for_event = False

    # Priorities

    def group_mask(self) -> int:
        """Return the mask that keeps the group priority bits (AIRCR.PRIGROUP)."""
        return (0xFF << (self.prigroup + 1)) & 0xFF

    def group_priority(self, exception: int) -> int:
        """Return the group priority used for preemption decisions."""
        priority = self.priority[exception]
        if priority < 0:
            return priority
        return priority & self.group_mask()

    def set_priority(self, exception: int, value: int) -> None:
        """Set a configurable priority byte, keeping the implemented bits."""
        if exception in (NMI, HARDFAULT) or not 0 < exception < NUM_EXCEPTIONS:
            return
        self.priority[exception] = value & PRIORITY_MASK
        self.changed = True

    # Enables

    def is_enabled(self, exception: int) -> bool:
        """Return whether a pending exception may be taken."""
        if exception >= IRQ_BASE:
            return self.enabled[exception]
        bit = SHCSR_ENABLE_BITS.get(exception)
        if bit is not None:
            return bool(self.shcsr_enables & bit)
        return True

    def set_enabled(self, exception: int, enabled: bool) -> None:
        """Enable or disable an external interrupt."""
        self.enabled[exception] = enabled
        self.changed = True

    # Pending and active

    def set_pending(self, exception: int) -> None:
        """Mark an exception pending."""
        if self.sevonpend and exception not in self.pending:
            self.event = True
        self.pending.add(exception)
        if exception not in self.active:
            self.pended_inactive.add(exception)
        self.changed = True

    def clear_pending(self, exception: int) -> None:
        """Clear an exception's pending state. A still-asserted line pends it again."""
        self.pending.discard(exception)
        self.changed = True
        if exception in self.levels and exception not in self.active:
            self.set_pending(exception)

    def set_level(self, exception: int, asserted: bool) -> bool:
        """Drive the level-sensitive line of an external interrupt and return whether it changed.

        The NVIC samples the line: an asserted line pends the interrupt while
        it is not active, and again when its handler returns (`deactivate`).
        Releasing the line leaves a pending interrupt pending.
        """
        if asserted == (exception in self.levels):
            return False
        if asserted:
            self.levels.add(exception)
            if exception not in self.active:
                self.set_pending(exception)
        else:
            # Pending and active state stay as they are.
            self.levels.discard(exception)
        return True

    def activate(self, exception: int) -> None:
        """Move an exception from pending to active on entry."""
        self.pending.discard(exception)
        self.active.add(exception)
        self.changed = True
        self.event = True

    def deactivate(self, exception: int) -> None:
        """Clear an exception's active state on return. A still-asserted line pends it again."""
        self.active.discard(exception)
        self.changed = True
        self.event = True
        if exception in self.levels:
            self.set_pending(exception)

    def active_priority(self) -> int:
        """Return the execution priority given by the active exceptions alone."""
        if not self.active:
            return THREAD_PRIORITY
        return min(self.group_priority(exception) for exception in self.active)

    def execution_priority(self, *, primask: int, basepri: int, faultmask: int) -> int:
        """Return the current execution priority (ARMv8-M ExecutionPriority)."""
        priority = self.active_priority()
        if basepri & 0xFF:
            priority = min(priority, basepri & self.group_mask())
        if primask & 1:
            priority = min(priority, 0)
        if faultmask & 1:
            priority = min(priority, -1)
        return priority

    def best_pending(self) -> int | None:
        """Return the pending, enabled exception to take next, or None.

        The lowest group priority wins, then the lowest subpriority, then the
        lowest exception number.
        """
        best: int | None = None
        best_key: tuple[int, int, int] | None = None
        for exception in self.pending:
            if not self.is_enabled(exception):
                continue
            key = (self.group_priority(exception), self.priority[exception], exception)
            if best_key is None or key < best_key:
                best, best_key = exception, key
        return best

    def pending_priority(self) -> int | None:
        """Return the group priority of the exception best_pending() picks."""
        best = self.best_pending()
        return None if best is None else self.group_priority(best)

    def wake_on_event(self) -> bool:
        """Consume the event register for a core waiting in WFE; return whether it wakes."""
        if not (self.waiting_for_event and self.event):
            return False
        self.event = False
        self.waiting_for_event = False
        return True

    def rettobase(self) -> bool:
        """Return ICSR.RETTOBASE: at most one exception is active."""
        return len(self.active) <= 1
