"""`StateLock`: one process at a time hosts a state directory of `ov up` or `ov demo`.

The lock is ``fcntl.flock`` on ``<state>/lock``. The kernel drops it when the
holder exits, even after a crash or SIGKILL, so a stale file never blocks a
start. The file contains the holder's pid and API URL for the error message.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from pathlib import Path
from typing import IO

from openvisor.errors import StateError

log = logging.getLogger(__name__)

LOCK_FILE = "lock"


class StateLock:
    """Exclusive lock on a state directory, held from :meth:`acquire` to :meth:`release`."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_FILE
        self._stream: IO[str] | None = None

    def acquire(self) -> None:
        """Acquire the lock, or raise StateError naming the process that holds it."""
        # The stream stays open while the lock is held: closing it releases the lock.
        stream = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115
        try:
            fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            stream.seek(0)
            holder = _describe_holder(stream.read())
            stream.close()
            raise StateError(
                f"state directory {self.path.parent} is in use by another ov process "
                f"({holder}): stop that process (Ctrl-C in its terminal), or pass "
                "--state DIR to use a separate state directory"
            ) from None
        self._stream = stream
        self.record(url="")

    def record(self, *, url: str) -> None:
        """Store this process's pid and API URL in the lock file for a blocked start to show."""
        if self._stream is None:
            return
        self._stream.seek(0)
        self._stream.truncate()
        self._stream.write(json.dumps({"pid": os.getpid(), "url": url}))
        self._stream.flush()

    def release(self) -> None:
        """Release the lock. The file stays, so no later start races on creating it."""
        if self._stream is None:
            return
        try:
            self._stream.seek(0)
            self._stream.truncate()
        except OSError as exc:
            log.warning("Could not clear state lock file (path=%s, error=%s)", self.path, exc)
        fcntl.flock(self._stream.fileno(), fcntl.LOCK_UN)
        self._stream.close()
        self._stream = None


def _describe_holder(text: str) -> str:
    """Format the lock file's pid and URL, e.g. ``pid 4242, API http://127.0.0.1:8080``."""
    try:
        holder = json.loads(text)
        pid = int(holder["pid"])
        url = str(holder.get("url") or "")
    except (ValueError, KeyError, TypeError):
        return "pid unknown"
    if not url:
        return f"pid {pid}, still starting"
    return f"pid {pid}, API {url}"
