"""The debugger side of one virtual device, and ``serve_local`` for ``ov run --gdb``.

A :class:`DeviceDebugger` sits on ``device.debugger``. The device consults it
in every slice: :meth:`DeviceDebugger.service` handles GDB packets (local
socket or remote tunnel), :meth:`DeviceDebugger.holds_app` returns whether the
application must stay halted this slice, and :meth:`DeviceDebugger.intercept`
turns a breakpoint, watchpoint or fault that ended a slice into a stop reply
instead of the device's usual crash handling. Everything else the device
does between slices (link traffic, logs, OTA downloads) goes on while the
application is halted.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

from openvisor.errors import DebugError
from openvisor.gdb.commands import StubHooks
from openvisor.gdb.machine_target import MachineTarget
from openvisor.gdb.remote import RemoteDebugEndpoint
from openvisor.gdb.session import GdbAttachment
from openvisor.link.messages import DebugFrame

log = logging.getLogger(__name__)


class DeviceDebugger:
    """Local and remote GDB sessions of one device.

    Example::

        debugger = DeviceDebugger(device, hold_until_attached=True)
        device.debugger = debugger          # Device.step consults it every slice
    """

    def __init__(self, device: Any, *, hold_until_attached: bool = False) -> None:
        self.device = device
        self.hold_until_attached = hold_until_attached
        self.target = MachineTarget(lambda: device.machine, restart=self._restart, drive=False)
        hooks = StubHooks(on_detach=self._on_detach, on_kill=self._on_kill)
        self._hooks = hooks
        self.local: GdbAttachment | None = None
        self.remote: RemoteDebugEndpoint | None = None
        # Whether the last slice kept the app halted. Other threads read it.
        self._holding = hold_until_attached
        link = getattr(device, "link", None)
        if link is not None:
            self.remote = RemoteDebugEndpoint(
                target=lambda: self.target,
                debug_auth_pubkey=self._debug_auth_pubkey,
                send=link.send,
                hooks=hooks,
                on_attach_change=self._publish_attached,
            )
            link.on_message(self._on_link_message)

    def _on_link_message(self, message: Any) -> None:
        # Runs on the link's thread: queue the frame and wake an idle device loop.
        assert self.remote is not None
        if isinstance(message, DebugFrame):
            self.remote.on_message(message)
            self.wake_device()

    def wake_device(self) -> None:
        """Wake the device loop so GDB traffic is served now. Safe to call from any thread.

        While the application runs (no debugger, or resumed by GDB) the
        current slice is also cut short, which keeps Ctrl-C and attach
        latency at one instruction boundary instead of one device slice.
        A halted core is not running, so it needs no stop request.
        """
        machine = getattr(self.device, "machine", None)
        if machine is not None and not self._holding:
            machine.request_stop()
        kernel = getattr(self.device, "kernel", None)
        if kernel is not None:
            kernel.wakeup.set()

    # -- what the device calls --------------------------------------------------

    @property
    def attached(self) -> bool:
        """Whether a GDB session is attached (the network reasons report DEBUGGERATTACHED)."""
        return self._active() is not None

    def service(self) -> None:
        """Handle queued GDB traffic; runs on the device's emulation thread."""
        if self.remote is not None:
            self.remote.service()
        if self.local is not None:
            self.local.service()
            if self.local.finished:
                if not self.local.stub.closed:
                    self._on_detach()
                self.local = None
                log.info("Detach local GDB (device=%s)", self._device_id())
        self._publish_attached()

    def holds_app(self) -> bool:
        """Whether the application must not run this slice."""
        self._holding = self._decide_hold()
        return self._holding

    def _decide_hold(self) -> bool:
        active = self._active()
        if active is None:
            return self.hold_until_attached
        # A resumed stub lets the device run the core, unless it is single-stepping
        # (the stub steps the core itself) or a stop is waiting to be reported.
        if not active.stub.running or active.stub.stepping or self.target.pending:
            return True
        self.target.catch_faults()
        return False

    def intercept(self, result: Any) -> bool:
        """Turn a debug stop that ended a slice into a stop reply; return whether it was one."""
        active = self._active()
        if active is None or not active.stub.running:
            return False
        event = self.target.classify(result)
        if event is None:
            return False
        self.target.hold(event)
        active.service()
        return True

    # -- local sessions ---------------------------------------------------------

    def attach_local(self, sock: socket.socket) -> GdbAttachment:
        """Attach a GDB connection accepted on a local socket; the app halts at once."""
        if self._active() is not None:
            raise DebugError(
                f"device {self._device_id()} already has a debugger attached: "
                "detach it before attaching another"
            )
        attachment = GdbAttachment(self.target, send=sock.sendall, hooks=self._hooks)
        self.local = attachment
        self.hold_until_attached = False
        self._publish_attached()
        return attachment

    # -- hooks ------------------------------------------------------------------

    def _active(self) -> GdbAttachment | None:
        if self.local is not None and not self.local.finished:
            return self.local
        remote = self.remote.attachment if self.remote is not None else None
        if remote is not None and not remote.finished:
            return remote
        return None

    def _publish_attached(self) -> None:
        kernel = getattr(self.device, "kernel", None)
        if kernel is not None:
            kernel.debugger_attached = self.attached

    def _restart(self) -> None:
        self.target.clear_hold()
        self.device.restart_for_debugger()

    def _on_detach(self) -> None:
        self.target.clear_hold()
        self.target.clear_points()
        self.hold_until_attached = False
        log.info("Resume app after detach (device=%s)", self._device_id())

    def _on_kill(self) -> None:
        self.hold_until_attached = False
        self.target.clear_points()
        self._restart()
        log.info("Restart app after kill (device=%s)", self._device_id())

    def _debug_auth_pubkey(self) -> bytes | None:
        image = getattr(self.device, "_boot_image", None) or getattr(self.device, "image", None)
        key = getattr(image, "debug_auth_pubkey", None)
        return bytes(key) if key else None

    def _device_id(self) -> str:
        return str(getattr(self.device, "device_id", "?"))


class LocalGdbServer:
    """A loopback TCP port that attaches each GDB connection to a device's debugger.

    Example::

        server = serve_local(device, 3333)
        ...                                 # the device loop runs as usual
        server.close()
    """

    def __init__(self, debugger: DeviceDebugger, sock: socket.socket) -> None:
        self.debugger = debugger
        self._sock = sock
        self.port: int = sock.getsockname()[1]
        self._closed = threading.Event()
        self._thread = threading.Thread(
            target=self._accept_loop, name=f"gdb-server-{self.port}", daemon=True
        )
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                conn, peer = self._sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                attachment = self.debugger.attach_local(conn)
            except DebugError as exc:
                log.warning("Refuse GDB connection (peer=%s, error=%s)", peer, exc)
                conn.close()
                continue
            log.info("Attach local GDB (peer=%s:%d, port=%d)", peer[0], peer[1], self.port)
            self._read_loop(conn, attachment)

    def _read_loop(self, conn: socket.socket, attachment: GdbAttachment) -> None:
        with conn:
            while not attachment.finished:
                try:
                    data = conn.recv(16 * 1024)
                except OSError:
                    data = b""
                if not data:
                    attachment.disconnect()
                    return
                attachment.feed(data)
                self.debugger.wake_device()

    def close(self) -> None:
        """Stop accepting GDB connections."""
        self._closed.set()
        self._sock.close()


def serve_local(device: Any, port: int, *, host: str = "127.0.0.1") -> LocalGdbServer:
    """Serve the GDB stub of ``device`` on ``host:port``; the app waits for GDB to continue.

    The application is held at its reset vector until a GDB connection
    attaches and resumes it. ``port`` 0 picks a free port (see ``.port``).
    """
    debugger = device.debugger
    if debugger is None:
        debugger = DeviceDebugger(device, hold_until_attached=True)
        device.debugger = debugger
    else:
        debugger.hold_until_attached = True
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise DebugError(
            f"cannot listen for GDB on {host}:{port} ({exc.strerror}): pick another --gdb port"
        ) from exc
    sock.listen(1)
    server = LocalGdbServer(debugger, sock)
    log.info("Listen for GDB (device=%s, port=%d)", getattr(device, "device_id", "?"), server.port)
    return server
