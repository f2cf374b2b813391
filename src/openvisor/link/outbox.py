"""The device-side queue of durable messages, persisted in the state directory.

Each queued message is one file ``<seq>.cbor`` (16 decimal digits, so names
sort in send order) under ``<state dir>/link/outbox/``, written atomically.
A message leaves the queue only when the broker has acknowledged it. A
killed process therefore resends, at worst, messages already delivered
once, which MQTT QoS 1 (at least once) allows and receivers tolerate.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from openvisor import atomicfile
from openvisor.errors import LinkError
from openvisor.link import messages
from openvisor.link.messages import Message

log = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGES = 10_000


class Outbox:
    """A persistent FIFO of durable messages.

    With ``folder=None`` it lives in memory only (unit tests, throwaway
    devices). When full, the oldest message is dropped, because recent logs
    and reports are worth more than old ones.
    """

    def __init__(self, folder: Path | None, *, max_messages: int = DEFAULT_MAX_MESSAGES) -> None:
        self._folder = folder
        self._max = max_messages
        self._lock = threading.Lock()
        self._items: dict[int, Message] = {}
        self._next_seq = 1
        self.dropped = 0
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            self._load(folder)

    def _load(self, folder: Path) -> None:
        for path in sorted(folder.glob("*.cbor")):
            try:
                seq = int(path.stem)
                self._items[seq] = messages.decode(path.read_bytes())
            except (ValueError, LinkError) as exc:
                log.warning("Drop unreadable outbox entry (path=%s, error=%s)", path, exc)
                path.unlink(missing_ok=True)
        if self._items:
            self._next_seq = max(self._items) + 1
            log.info("Load outbox (folder=%s, messages=%d)", folder, len(self._items))

    def put(self, message: Message) -> int:
        """Append ``message`` and return its sequence number."""
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
            if self._folder is not None:
                atomicfile.write_bytes(self._folder / f"{seq:016d}.cbor", messages.encode(message))
            self._items[seq] = message
            while len(self._items) > self._max:
                oldest = min(self._items)
                self._remove_locked(oldest)
                self.dropped += 1
                log.warning(
                    "Drop oldest outbox message, outbox full (seq=%d, max=%d)", oldest, self._max
                )
            return seq

    def remove(self, seq: int) -> None:
        """Forget ``seq`` after the broker acknowledged it."""
        with self._lock:
            self._remove_locked(seq)

    def _remove_locked(self, seq: int) -> None:
        if self._items.pop(seq, None) is not None and self._folder is not None:
            (self._folder / f"{seq:016d}.cbor").unlink(missing_ok=True)

    def items(self) -> list[tuple[int, Message]]:
        """Return the queued messages, oldest first."""
        with self._lock:
            return sorted(self._items.items())

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
