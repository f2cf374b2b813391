"""The emulated STM32U585 core: CPU, memory map, exceptions, virtual clock, loader."""

from openvisor.machine.clock import Pacing, ScheduledEvent
from openvisor.machine.core import GATEWAY_CALL_CYCLES, Machine
from openvisor.machine.results import FaultKind, FaultRecord, RunReason, RunResult

__all__ = [
    "GATEWAY_CALL_CYCLES",
    "FaultKind",
    "FaultRecord",
    "Machine",
    "Pacing",
    "RunReason",
    "RunResult",
    "ScheduledEvent",
]
