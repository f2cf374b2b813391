"""Factory testing: mvTestingComplete, mvTestLoggingInit and mvTestLog.

Outside factory test mode these calls return UNAVAILABLE and change nothing.
In test mode ``mvTestingComplete(status)`` ends the application, and the status
becomes the result of the run. Test logs go to the provisioning console
(``kernel.test_log_listeners``), not to the cloud.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from openvisor.kernel.abi import MvStatus, StatusError
from openvisor.kernel.calls.server_log import MAX_MESSAGE_LENGTH, check_log_buffer
from openvisor.kernel.gateway import syscall

if TYPE_CHECKING:
    from openvisor.kernel.kernel import Kernel

log = logging.getLogger(__name__)


class FactoryTestLog:
    """Whether test logging was initialised, and every line logged so far."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.initialised = False
        self.lines: list[str] = []

    def app_restarted(self) -> None:
        self.initialised = False


def _require_test_mode(kernel: Kernel) -> None:
    if not kernel.settings.factory_test:
        raise StatusError(MvStatus.UNAVAILABLE, "not in factory test mode")


@syscall("mvTestingComplete")
def testing_complete(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """End the factory test with status ``r0`` (0 = passed)."""
    from openvisor.kernel.kernel import AppExit, ExitKind

    _require_test_mode(kernel)
    log.info("Complete factory test (device=%s, status=%d)", kernel.device_id, r0)
    kernel.request_exit(AppExit(ExitKind.TESTING_COMPLETE, status=r0))
    return MvStatus.OKAY


@syscall("mvTestLoggingInit")
def test_logging_init(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Hand over a test-logging buffer; the same rules as mvServerLoggingInit."""
    _require_test_mode(kernel)
    check_log_buffer(kernel, r0, r1)
    kernel.family_state(FactoryTestLog).initialised = True
    return MvStatus.OKAY


@syscall("mvTestLog")
def test_log(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Print the message at ``r0`` (``r1`` bytes, a uint16_t) on the test console."""
    length = r1 & 0xFFFF
    state = kernel.family_state(FactoryTestLog)
    if not state.initialised:
        raise StatusError(MvStatus.UNAVAILABLE, "mvTestLoggingInit not called")
    kernel.memory.check_read(r0, length)
    if length > MAX_MESSAGE_LENGTH:
        raise StatusError(MvStatus.LOGMESSAGETOOLONG, f"{length} bytes")
    line = kernel.memory.read(r0, length).decode("utf-8", errors="replace")
    state.lines.append(line)
    for listener in list(kernel.test_log_listeners):
        listener(line)
    return MvStatus.OKAY
