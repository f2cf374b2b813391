"""The device kernel's end of the remote debug tunnel.

Frames arrive as ``DebugFrame`` link messages on the link's thread and are
queued; the device's emulation thread calls :meth:`RemoteDebugEndpoint.service`
between slices, which runs the tunnel handshake, opens frames, feeds the GDB
stub and seals its replies. One session at a time: a new client HELLO ends
the previous session. An empty frame from the relay ends the session.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable

from openvisor.errors import DebugAuthError, DebugError
from openvisor.gdb.commands import SLICE_CYCLES, StubHooks
from openvisor.gdb.session import GdbAttachment
from openvisor.gdb.target import DebugTarget
from openvisor.gdb.tunnel import (
    FRAME_CLIENT_HELLO,
    PLAIN_ATTACH,
    PLAIN_DETACH,
    PLAIN_RSP,
    DebugReplayError,
    DeviceTunnel,
    RejectReason,
    reject_frame,
)
from openvisor.link.messages import DebugFrame, Message

log = logging.getLogger(__name__)


class RemoteDebugEndpoint:
    """Serve GDB sessions that arrive through the encrypted tunnel.

    ``target`` returns the application core's debug view (it may change
    across app restarts), ``debug_auth_pubkey`` returns the running bundle's
    key (None when the bundle has none) and ``send`` is the device link's
    ``send``. ``on_attach_change`` runs on the emulation thread each time a
    tunnel attachment starts or ends, before any reply of the new attachment
    is sent, so state derived from it is current when GDB sees that reply.

    Example::

        endpoint = RemoteDebugEndpoint(target=view, debug_auth_pubkey=key, send=link.send)
        link.on_message(endpoint.on_message)      # link thread: queues frames
        endpoint.service()                        # emulation thread, every loop pass
        if endpoint.halted: ...                   # do not run the app this pass
    """

    def __init__(
        self,
        *,
        target: Callable[[], DebugTarget],
        debug_auth_pubkey: Callable[[], bytes | None],
        send: Callable[[Message], bool],
        hooks: StubHooks | None = None,
        on_attach_change: Callable[[], None] | None = None,
    ) -> None:
        self._target = target
        self._on_attach_change = on_attach_change
        self._pubkey = debug_auth_pubkey
        self._send = send
        self._hooks = hooks or StubHooks()
        self._inbox: queue.SimpleQueue[DebugFrame] = queue.SimpleQueue()
        self._session = ""
        self._tunnel: DeviceTunnel | None = None
        self.attachment: GdbAttachment | None = None
        self.rejected_frames = 0

    @property
    def halted(self) -> bool:
        """Return whether a debugger keeps the application halted right now."""
        return self.attachment is not None and self.attachment.halted

    @property
    def attached(self) -> bool:
        """Whether a GDB session is attached through the tunnel."""
        return self.attachment is not None and not self.attachment.finished

    def on_message(self, message: Message) -> None:
        """Queue a debug frame from the link; other message kinds are ignored."""
        if isinstance(message, DebugFrame):
            self._inbox.put(message)

    def service(self, max_cycles: int = SLICE_CYCLES) -> None:
        """Handle queued frames, then let an attached stub run its core one slice."""
        while True:
            try:
                frame = self._inbox.get_nowait()
            except queue.Empty:
                break
            self._handle(frame)
        if self.attachment is not None:
            self.attachment.service(max_cycles)
            if self.attachment.finished:
                self._end_attachment()

    # -- frames ---------------------------------------------------------------

    def _handle(self, frame: DebugFrame) -> None:
        if not frame.data:
            if frame.session == self._session:
                log.info("End debug session by the relay (session=%s)", frame.session)
                self._end_session()
            return
        if frame.data[0] == FRAME_CLIENT_HELLO:
            self._start_session(frame)
            return
        if frame.session != self._session or self._tunnel is None:
            log.debug("Drop debug frame of no session (session=%s)", frame.session)
            return
        if not self._tunnel.confirmed:
            self._confirm(frame)
            return
        try:
            plaintext = self._tunnel.open(frame.data)
        except DebugReplayError as exc:
            self.rejected_frames += 1
            log.warning(
                "Reject replayed debug frame (session=%s, sequence=%d, expected=%d)",
                frame.session,
                exc.sequence,
                exc.expected,
            )
            return
        except DebugAuthError as exc:
            self.rejected_frames += 1
            log.warning("Reject debug frame (session=%s, error=%s)", frame.session, exc)
            return
        except DebugError as exc:
            log.warning(
                "End debug session on a protocol error (session=%s, error=%s)", frame.session, exc
            )
            self._reply_raw(reject_frame(RejectReason.PROTOCOL, str(exc)))
            self._end_session()
            return
        self._plaintext(plaintext)

    def _start_session(self, frame: DebugFrame) -> None:
        if self._session:
            log.info("Replace debug session (old=%s, new=%s)", self._session, frame.session)
            self._end_session()
        self._session = frame.session
        tunnel = DeviceTunnel(self._pubkey())
        try:
            hello = tunnel.accept(frame.data)
        except DebugAuthError as exc:
            log.warning("Reject debug session (session=%s, error=%s)", frame.session, exc)
            self._reply_raw(reject_frame(RejectReason.NOT_DEBUGGABLE, str(exc)))
            self._session = ""
            return
        except DebugError as exc:
            self._reply_raw(reject_frame(RejectReason.PROTOCOL, str(exc)))
            self._session = ""
            return
        self._tunnel = tunnel
        self._reply_raw(hello)

    def _confirm(self, frame: DebugFrame) -> None:
        assert self._tunnel is not None
        try:
            confirmation = self._tunnel.confirm(frame.data)
        except DebugError as exc:
            log.warning("Reject debugging key (session=%s)", frame.session)
            self._reply_raw(reject_frame(RejectReason.BAD_KEY, str(exc)))
            self._session = ""
            self._tunnel = None
            return
        log.info("Open debug session (session=%s)", frame.session)
        self._reply_raw(confirmation)

    def _plaintext(self, plaintext: bytes) -> None:
        if not plaintext:
            return
        kind, body = plaintext[0], plaintext[1:]
        if kind == PLAIN_ATTACH:
            if self.attachment is not None:
                self._end_attachment()
            self.attachment = GdbAttachment(self._target(), send=self._reply_rsp, hooks=self._hooks)
            log.info("Attach GDB (session=%s)", self._session)
            self._notify_attach_change()
        elif kind == PLAIN_RSP and self.attachment is not None:
            self.attachment.feed(body)
        elif kind == PLAIN_DETACH and self.attachment is not None:
            self.attachment.disconnect()

    # -- replies and teardown -------------------------------------------------

    def _reply_rsp(self, data: bytes) -> None:
        if self._tunnel is None:
            return
        self._reply_raw(self._tunnel.seal(bytes([PLAIN_RSP]) + data))

    def _reply_raw(self, data: bytes) -> None:
        self._send(DebugFrame(session=self._session, data=data))

    def _end_attachment(self) -> None:
        attachment = self.attachment
        self.attachment = None
        if attachment is None:
            return
        if not attachment.stub.closed and self._hooks.on_detach is not None:
            # GDB went away without 'D' or 'k': let the application run on.
            self._hooks.on_detach()
        log.info("Detach GDB (session=%s)", self._session)
        self._notify_attach_change()

    def _notify_attach_change(self) -> None:
        if self._on_attach_change is not None:
            self._on_attach_change()

    def _end_session(self) -> None:
        self._end_attachment()
        self._session = ""
        self._tunnel = None
