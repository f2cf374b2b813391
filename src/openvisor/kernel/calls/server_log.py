"""Application logging to the cloud: mvServerLoggingInit and mvServerLog.

Accepted messages wait in a queue (persisted in the device state directory
while unsent) that the network side drains with :meth:`ServerLog.take`. The
app's logging buffer sets the queue's capacity: each message costs its length
plus 8 bytes of bookkeeping, and a full queue rejects further messages with
INVALIDBUFFERSIZE, as does the rate limit (10 messages/s, bursts of 50, in
virtual time).
"""

from __future__ import annotations

import base64
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from openvisor import atomicfile
from openvisor.kernel.abi import MvStatus, StatusError
from openvisor.kernel.gateway import syscall

if TYPE_CHECKING:
    from openvisor.kernel.kernel import Kernel

log = logging.getLogger(__name__)

BUFFER_ALIGNMENT = 512
MIN_BUFFER_SIZE = 1024
MAX_MESSAGE_LENGTH = 1024
RECORD_OVERHEAD = 8
RATE_PER_SECOND = 10
RATE_BURST = 50
STATE_FILE = "server-logs.json"


@dataclass(frozen=True)
class LogRecord:
    """One accepted ``mvServerLog`` message and when it was logged.

    ``micros`` is kernel uptime, which restarts at 0 in a new process. So a
    record restored from disk (``restored``) can be dated only by ``unix_micros``,
    the wall time at logging in µs since the epoch (None if not synced then).
    """

    micros: int
    message: bytes
    unix_micros: int | None = None
    restored: bool = False

    @property
    def text(self) -> str:
        """The message decoded as UTF-8, undecodable bytes replaced."""
        return self.message.decode("utf-8", errors="replace")


def check_log_buffer(kernel: Kernel, address: int, size: int) -> None:
    """Validate a logging buffer the app hands over (server or test logging)."""
    kernel.memory.check_write(address, size)
    if address % BUFFER_ALIGNMENT:
        raise StatusError(MvStatus.INVALIDBUFFERALIGNMENT, f"buffer {address:#010x}")
    if size < MIN_BUFFER_SIZE or size % BUFFER_ALIGNMENT:
        raise StatusError(MvStatus.INVALIDBUFFERSIZE, f"buffer size {size}")


class ServerLog:
    """Queue of server-log messages not yet delivered, with its rate limiter."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.capacity = 0
        """Bytes of queue the app's buffer allows; 0 until mvServerLoggingInit."""
        self.disabled_by_server = False
        """Set by the network side while the cloud rejects this device's logs."""
        self.listeners: list[Callable[[LogRecord], None]] = []
        """Called with every accepted message, on the emulation thread."""
        self._queue: deque[LogRecord] = deque()
        self._tokens = float(RATE_BURST)
        self._tokens_at = 0
        self._dirty = False
        self._load()

    @property
    def initialised(self) -> bool:
        return self.capacity > 0

    def used(self) -> int:
        """Bytes of capacity the queued messages take."""
        return sum(len(record.message) + RECORD_OVERHEAD for record in self._queue)

    def pending(self) -> int:
        """Number of messages waiting for delivery."""
        return len(self._queue)

    def take(self, max_count: int = 100) -> list[LogRecord]:
        """Remove and return up to ``max_count`` of the oldest messages for delivery."""
        taken: list[LogRecord] = []
        while self._queue and len(taken) < max_count:
            taken.append(self._queue.popleft())
        if taken:
            self._dirty = True
        return taken

    def requeue(self, records: list[LogRecord]) -> None:
        """Put back messages whose delivery failed, ahead of newer ones."""
        self._queue.extendleft(reversed(records))
        if records:
            self._dirty = True

    def append(self, message: bytes) -> None:
        """Queue one message, enforcing the rate limit and the capacity."""
        now = self.kernel.micros()
        self._tokens = min(
            float(RATE_BURST), self._tokens + (now - self._tokens_at) * RATE_PER_SECOND / 1e6
        )
        self._tokens_at = now
        if self._tokens < 1:
            raise StatusError(MvStatus.INVALIDBUFFERSIZE, "rate limited")
        if self.used() + len(message) + RECORD_OVERHEAD > self.capacity:
            raise StatusError(MvStatus.INVALIDBUFFERSIZE, "log buffer full")
        self._tokens -= 1
        record = LogRecord(now, message, self.kernel.wall_time_us())
        self._queue.append(record)
        self._dirty = True
        for listener in list(self.listeners):
            listener(record)

    def app_restarted(self) -> None:
        self.capacity = 0

    def flush(self) -> None:
        """Persist the unsent queue if it changed."""
        if not self._dirty or self.kernel.state_dir is None:
            return
        atomicfile.write_json(
            self.kernel.state_dir / STATE_FILE,
            [
                {
                    "micros": r.micros,
                    "unix_micros": r.unix_micros,
                    "message": base64.b64encode(r.message).decode(),
                }
                for r in self._queue
            ],
        )
        self._dirty = False

    def _load(self) -> None:
        if self.kernel.state_dir is None:
            return
        saved = atomicfile.read_json(self.kernel.state_dir / STATE_FILE, default=[])
        for item in saved:
            unix_micros = item.get("unix_micros")
            self._queue.append(
                LogRecord(
                    int(item["micros"]),
                    base64.b64decode(item["message"]),
                    int(unix_micros) if isinstance(unix_micros, int) else None,
                    restored=True,
                )
            )
        if self._queue:
            log.info(
                "Restore unsent server logs (device=%s, count=%d)",
                self.kernel.device_id,
                len(self._queue),
            )


@syscall("mvServerLoggingInit")
def server_logging_init(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Hand the microvisor a logging buffer (``r0``, ``r1`` bytes); may be called again."""
    check_log_buffer(kernel, r0, r1)
    kernel.family_state(ServerLog).capacity = r1
    return MvStatus.OKAY


@syscall("mvServerLog")
def server_log(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Queue the message at ``r0`` (``r1`` bytes, a uint16_t) for the cloud."""
    length = r1 & 0xFFFF
    state = kernel.family_state(ServerLog)
    if not state.initialised:
        raise StatusError(MvStatus.UNAVAILABLE, "mvServerLoggingInit not called")
    kernel.memory.check_read(r0, length)
    if length > MAX_MESSAGE_LENGTH:
        raise StatusError(MvStatus.LOGMESSAGETOOLONG, f"{length} bytes")
    if state.disabled_by_server:
        raise StatusError(MvStatus.LOGGINGDISABLEDBYSERVER)
    state.append(kernel.memory.read(r0, length))
    return MvStatus.OKAY
