"""The debug relay: one WebSocket per device, carrying only tunnel ciphertext.

``ov debug`` connects to ``/v1/Devices/{device}/Debug`` with the same HTTP
Basic credentials as the REST API. The relay checks them, allows one session
per device at a time, records the session in SQL (who opened it, when it
ended) and then forwards binary messages to the device as ``DebugFrame``
link messages, and the device's ``DebugFrame`` messages back. It never
decrypts: the tunnel keys exist only in ``ov debug`` and the device kernel.

Protocol details: ``openvisor.gdb.proxy`` and ``docs/debugging.md``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.websockets import WebSocket, WebSocketDisconnect

from openvisor.cloud.api.deps import ServiceState, authenticate_connection
from openvisor.cloud.db import session_scope
from openvisor.cloud.models import DebugSession, utcnow
from openvisor.cloud.service import reports
from openvisor.cloud.service.accounts import Principal
from openvisor.cloud.service.devices import get_device
from openvisor.errors import CloudError
from openvisor.link.base import ServiceLink
from openvisor.link.messages import DebugFrame, Message

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 64 * 1024
# A session row left open by an instance that died is released after this long.
STALE_SESSION_AFTER = timedelta(hours=6)

CLOSE_OFFSET = 4000


@dataclass
class _Session:
    """One live relay session on this instance."""

    sid: str
    device_sid: str
    account_sid: str
    inbox: asyncio.Queue[bytes | None]
    loop: asyncio.AbstractEventLoop
    sessions: sessionmaker[Session]
    frames_up: int = 0
    frames_down: int = 0


class RelayRejection(Exception):
    """A relay request that ends with a close code and a message for ``ov debug``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class DebugRelay:
    """Relay debug-tunnel frames between WebSockets and devices over the device link.

    The relay reads the database and credentials from the app's service
    state (``app.state.ov``); :meth:`attach_link` gives it the service link
    it sends frames on and receives the devices' frames from.

    Example::

        relay = DebugRelay()
        app.include_router(create_router(relay))
        relay.attach_link(service_link)      # once the device link is up
    """

    def __init__(self) -> None:
        self._send: Callable[[str, Message], None] | None = None
        self._by_device: dict[str, _Session] = {}
        self._by_sid: dict[str, _Session] = {}
        self._open_lock = asyncio.Lock()
        # Observers of every relayed frame as (session sid, "up" or "down", frame);
        # tests capture the relayed traffic here.
        self.taps: list[Callable[[str, str, bytes], None]] = []

    def attach_link(self, link: ServiceLink) -> None:
        """Send frames to devices over ``link`` and take the devices' frames from it."""
        self._send = link.send
        link.on_message(self.deliver)

    # -- device side (service link thread) ----------------------------------

    def deliver(self, device_sid: str, message: Message) -> None:
        """Forward a device's ``DebugFrame`` to its WebSocket; other messages are ignored."""
        if not isinstance(message, DebugFrame):
            return
        live = self._by_sid.get(message.session)
        # NOTE: only the instance holding the WebSocket can forward. With a shared
        # MQTT subscription another instance may get the frame and drop it here.
        if live is None or live.device_sid != device_sid:
            log.debug(
                "Drop debug frame for no live session (device_sid=%s, session_sid=%s)",
                device_sid,
                message.session,
            )
            return
        live.loop.call_soon_threadsafe(live.inbox.put_nowait, message.data)

    @property
    def open_sessions(self) -> int:
        """The number of sessions live on this instance."""
        return len(self._by_sid)

    # -- WebSocket side -----------------------------------------------------

    async def serve(self, websocket: WebSocket, device: str) -> None:
        """Run one relay session on an upgraded WebSocket until either end closes."""
        await websocket.accept()
        state: ServiceState = websocket.app.state.ov
        try:
            if self._send is None:
                raise RelayRejection(
                    503,
                    "this cloud service has no device link, so it cannot reach devices: "
                    "start it with a broker (ov up does)",
                )
            principal = await asyncio.to_thread(self._authenticate, websocket, state)
            live = await self._open(state, principal, device)
        except RelayRejection as exc:
            log.info(
                "Reject debug session (device=%s, status=%d, error=%s)", device, exc.status, exc
            )
            await websocket.send_text(json.dumps({"error": str(exc), "status": exc.status}))
            await websocket.close(code=CLOSE_OFFSET + exc.status, reason=str(exc)[:120])
            return

        log.info(
            "Open debug session (device_sid=%s, session_sid=%s, account_sid=%s, by=%s)",
            live.device_sid,
            live.sid,
            live.account_sid,
            principal.sid,
        )
        await websocket.send_text(json.dumps({"session": live.sid}))
        downstream = asyncio.create_task(self._pump_down(websocket, live))
        try:
            await self._pump_up(websocket, live)
        finally:
            downstream.cancel()
            await self._close(live)

    async def _pump_up(self, websocket: WebSocket, live: _Session) -> None:
        while True:
            try:
                message = await websocket.receive()
            except WebSocketDisconnect:
                return
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            if data is None:
                continue
            if len(data) > MAX_FRAME_BYTES or not data:
                log.warning(
                    "Drop debug frame of bad size (session_sid=%s, size=%d)", live.sid, len(data)
                )
                continue
            live.frames_up += 1
            for tap in self.taps:
                tap(live.sid, "up", data)
            assert self._send is not None
            self._send(live.device_sid, DebugFrame(session=live.sid, data=data))
            if live.frames_up == 1:
                await asyncio.to_thread(self._mark_active, live, data)

    async def _pump_down(self, websocket: WebSocket, live: _Session) -> None:
        while True:
            data = await live.inbox.get()
            if data is None:
                await websocket.close(code=1000)
                return
            live.frames_down += 1
            for tap in self.taps:
                tap(live.sid, "down", data)
            await websocket.send_bytes(data)

    # -- bookkeeping ----------------------------------------------------------

    def _authenticate(self, websocket: WebSocket, state: ServiceState) -> Principal:
        try:
            principal = authenticate_connection(websocket, state)
        except CloudError as exc:
            raise RelayRejection(exc.status or 401, str(exc)) from exc
        if principal.is_device:
            raise RelayRejection(403, "a device's credentials cannot open a debug session")
        return principal

    async def _open(self, state: ServiceState, principal: Principal, device: str) -> _Session:
        async with self._open_lock:
            record_sid, device_sid = await asyncio.to_thread(
                self._record_open, state.sessions, principal, device
            )
            live = _Session(
                sid=record_sid,
                device_sid=device_sid,
                account_sid=principal.account_sid,
                inbox=asyncio.Queue(),
                loop=asyncio.get_running_loop(),
                sessions=state.sessions,
            )
            self._by_device[device_sid] = live
            self._by_sid[record_sid] = live
            return live

    def _record_open(
        self, factory: sessionmaker[Session], principal: Principal, device: str
    ) -> tuple[str, str]:
        with session_scope(factory) as session:
            try:
                target = get_device(session, principal.account_sid, device)
            except CloudError as exc:
                raise RelayRejection(exc.status or 404, str(exc)) from exc
            if target.sid in self._by_device:
                raise RelayRejection(
                    409,
                    f"device {target.sid} already has a debug session open: end it before "
                    "starting another",
                )
            self._release_stale(session, target.sid)
            record = reports.open_debug_session(session, principal.account_sid, target.sid)
            return record.sid, target.sid

    def _release_stale(self, session: Session, device_sid: str) -> None:
        rows = session.scalars(
            select(DebugSession).where(
                DebugSession.device_sid == device_sid, DebugSession.status != "closed"
            )
        ).all()
        now = utcnow()
        for row in rows:
            if row.sid in self._by_sid:
                continue
            if now - row.date_created < STALE_SESSION_AFTER:
                raise RelayRejection(
                    409,
                    f"device {device_sid} already has debug session {row.sid} open: end it "
                    "before starting another",
                )
            # NOTE: a row this old with no live relay here was left by a stopped
            # instance; a session really running elsewhere that long is cut off.
            log.warning("Close stale debug session (session_sid=%s)", row.sid)
            row.status = "closed"
            row.date_ended = now

    def _mark_active(self, live: _Session, first_frame: bytes) -> None:
        # The first frame is the client HELLO: type, version, then the client's
        # ephemeral P-256 point, which identifies the tunnel in the record.
        point = first_frame[2 : 2 + 65].hex() if first_frame[:1] == b"\x01" else ""
        with session_scope(live.sessions) as session:
            try:
                record = reports.set_debug_session_active(session, live.sid)
                record.client_public_key = point
            except CloudError as exc:
                log.warning(
                    "Mark debug session active failed (session_sid=%s, error=%s)", live.sid, exc
                )

    async def _close(self, live: _Session) -> None:
        # An empty frame ends the session on the device kernel's side.
        if self._send is not None:
            self._send(live.device_sid, DebugFrame(session=live.sid, data=b""))
        # The device stays reserved until its record is closed, because a session
        # opened before that would find the record still open and be rejected.
        try:
            await asyncio.to_thread(self._record_close, live)
        finally:
            self._by_device.pop(live.device_sid, None)
            self._by_sid.pop(live.sid, None)
        log.info(
            "Close debug session (device_sid=%s, session_sid=%s, frames_up=%d, frames_down=%d)",
            live.device_sid,
            live.sid,
            live.frames_up,
            live.frames_down,
        )

    def _record_close(self, live: _Session) -> None:
        with session_scope(live.sessions) as session:
            reports.close_debug_session(session, live.sid)
