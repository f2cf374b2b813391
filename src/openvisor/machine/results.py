"""Results of a run: why it stopped and, for a crash, the fault record."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class RunReason(enum.Enum):
    """Why `Machine.run` or `Machine.step` returned."""

    BUDGET = "budget"  # max_cycles were executed
    SLEEP = "sleep"  # WFI/WFE with nothing pending and no timer event within the budget
    STOP = "stop"  # request_stop() was called (from a gateway handler, callback or thread)
    CRASH = "crash"  # the application faulted in a way only the microvisor handles
    RESET = "reset"  # the application requested a system reset (AIRCR.SYSRESETREQ)
    BREAKPOINT = "breakpoint"  # a breakpoint address was reached or BKPT executed
    WATCHPOINT = "watchpoint"  # a watched address was accessed
    STEP = "step"  # one instruction was executed by step()


class FaultKind(enum.Enum):
    """The kinds of application fault that end the application."""

    MEMORY = "memory"  # read, write or fetch of secure memory, unmapped space or secure peripherals
    FLASH_WRITE = "flash-write"  # a write to application flash
    GATEWAY_READ = "gateway-read"  # a data access to the call gateway
    GATEWAY_CALL = "gateway-call"  # a branch to a gateway address that holds no call
    STACKING = "stacking"  # exception entry or return touched memory outside SRAM
    LOCKUP = "lockup"  # a fault while HardFault runs, or a fault with no way to escalate
    INVALID_STATE = "invalid-state"  # a state the emulator cannot continue from


@dataclass(frozen=True)
class FaultRecord:
    """What the microvisor needs to report and handle an application crash.

    ``access`` is "read", "write" or "fetch" for memory faults, else None.
    ``registers`` holds r0-r12, sp, lr, pc, xpsr, msp, psp and control.
    """

    kind: FaultKind
    pc: int
    lr: int
    sp: int
    xpsr: int
    address: int | None
    access: str | None
    description: str
    registers: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RunResult:
    """The outcome of one `Machine.run` or `Machine.step` call.

    ``cycles`` is the number of virtual cycles that passed during the call;
    ``fault`` is set for CRASH; ``address`` is the breakpoint or watched
    address for BREAKPOINT and WATCHPOINT.
    """

    reason: RunReason
    cycles: int
    fault: FaultRecord | None = None
    address: int | None = None
