"""A debugger attachment: the stub for one GDB connection, serviced on the emulation thread.

Bytes from GDB may arrive on any thread (a socket reader, the device link's
network thread); :meth:`GdbAttachment.feed` only queues them. The thread that
owns the emulated core calls :meth:`GdbAttachment.service` between its other
work: it runs the queued packets through the stub, lets a resumed core run
one bounded slice, and hands every reply to the ``send`` callback. So the
core is never touched from two threads, and the device keeps serving its
link while the application is halted.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from openvisor.gdb.commands import SLICE_CYCLES, GdbStub, StubHooks
from openvisor.gdb.target import DebugTarget

log = logging.getLogger(__name__)


class GdbAttachment:
    """One GDB connection's stub over a target.

    Example::

        attachment = GdbAttachment(target, send=sock.sendall)
        attachment.feed(sock.recv(4096))        # any thread
        attachment.service()                     # emulation thread, in its loop
    """

    def __init__(
        self,
        target: DebugTarget,
        *,
        send: Callable[[bytes], None],
        hooks: StubHooks | None = None,
    ) -> None:
        self.stub = GdbStub(target, hooks=hooks)
        self._send = send
        self._inbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._wakeup = threading.Event()
        self.disconnected = False

    @property
    def halted(self) -> bool:
        """Whether the application is held by the debugger (not running under it)."""
        return not self.stub.running and not self.finished

    @property
    def finished(self) -> bool:
        """Whether GDB detached, killed or disconnected."""
        return self.stub.closed or self.disconnected

    def feed(self, data: bytes) -> None:
        """Queue bytes received from GDB; safe from any thread."""
        self._inbox.put(data)
        self._wakeup.set()

    def disconnect(self) -> None:
        """Queue the end of the GDB connection; safe from any thread."""
        self._inbox.put(None)
        self._wakeup.set()

    def wait(self, timeout: float) -> bool:
        """Block until bytes arrive or ``timeout`` seconds pass; return whether any arrived."""
        arrived = self._wakeup.wait(timeout)
        self._wakeup.clear()
        return arrived

    def service(self, max_cycles: int = SLICE_CYCLES) -> None:
        """Run queued packets through the stub and, while resumed, one slice of the core."""
        while True:
            try:
                data = self._inbox.get_nowait()
            except queue.Empty:
                break
            if data is None:
                self.disconnected = True
                return
            outgoing = self.stub.receive(data)
            if outgoing:
                self._send(outgoing)
            if self.stub.closed:
                return

        if self.stub.running:
            outgoing = self.stub.poll(max_cycles)
            if outgoing:
                self._send(outgoing)
