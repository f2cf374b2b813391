"""The microvisor kernel: system calls, isolation and crash recovery.

:class:`Kernel` serves one application's calls through the gateway registry in
:mod:`openvisor.kernel.gateway`; each API family is a module of
:mod:`openvisor.kernel.calls` (network families: :mod:`openvisor.kernel.net`).
"""

from openvisor.kernel.abi import KERNEL_VERSION, MvStatus, MvWakeReason, StatusError
from openvisor.kernel.kernel import AppExit, ClockSettings, ExitKind, Kernel, KernelSettings

__all__ = [
    "KERNEL_VERSION",
    "AppExit",
    "ClockSettings",
    "ExitKind",
    "Kernel",
    "KernelSettings",
    "MvStatus",
    "MvWakeReason",
    "StatusError",
]
