"""The developer's end of the debug tunnel: a local GDB port relayed through the cloud.

``ov debug`` opens a WebSocket to the cloud's debug relay, runs the tunnel
handshake with the device kernel, then listens on a loopback TCP port. Bytes
from GDB are sealed and sent as binary WebSocket messages; frames from the
device are opened and written back to GDB. The cloud sees only ciphertext.

Relay WebSocket protocol: after the upgrade the service sends one text
message, ``{"session": "DS..."}`` on success or ``{"error": "...",
"status": N}`` before closing; every later message is one binary tunnel
frame. The relay closes with code 4000 + an HTTP status when it rejects the
session (4401 credentials, 4404 device, 4409 another session is open).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit, urlunsplit

import websockets
from cryptography.hazmat.primitives.asymmetric import ec
from websockets.asyncio.client import ClientConnection, connect

from openvisor.errors import DebugAuthError, DebugError
from openvisor.gdb.tunnel import (
    PLAIN_ATTACH,
    PLAIN_DETACH,
    PLAIN_RSP,
    ClientTunnel,
)

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT = 15.0
READ_CHUNK = 16 * 1024


@dataclass
class ProxyOptions:
    """Settings of one ``ov debug`` session: cloud URL, API key, device, debugging key, GDB port."""

    api_url: str
    device: str
    key_sid: str
    key_secret: str
    private_key: ec.EllipticCurvePrivateKey
    port: int = 8001
    host: str = "127.0.0.1"
    handshake_timeout: float = HANDSHAKE_TIMEOUT


@dataclass
class ProxyStatus:
    """State of a running proxy: the session, the bound port and traffic counters."""

    session_sid: str = ""
    port: int = 0
    frames_sent: int = 0
    frames_received: int = 0
    gdb_connections: int = 0
    events: list[str] = field(default_factory=list)


def relay_url(api_url: str, device: str) -> str:
    """Return the relay's WebSocket URL for ``device`` under the REST base URL."""
    parts = urlsplit(api_url)
    if parts.scheme not in ("http", "https"):
        raise DebugError(f"API URL {api_url!r} must start with http:// or https://")
    scheme = "wss" if parts.scheme == "https" else "ws"
    path = parts.path.rstrip("/") + f"/v1/Devices/{quote(device, safe='')}/Debug"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def _basic_auth(sid: str, secret: str) -> str:
    token = base64.b64encode(f"{sid}:{secret}".encode()).decode("ascii")
    return f"Basic {token}"


def _close_error(ws: ClientConnection) -> DebugError:
    code = ws.close_code or 0
    reason = ws.close_reason or "the relay closed the connection"
    if code in (4401, 4403):
        return DebugAuthError(f"the cloud rejected the debug session: {reason}")
    return DebugError(f"the cloud ended the debug session (code {code}): {reason}")


def _notice_error(notice: dict[str, object]) -> DebugError:
    text = str(notice["error"])
    if notice.get("status") in (401, 403):
        return DebugAuthError(f"the cloud rejected the debug session: {text}")
    return DebugError(f"the cloud rejected the debug session: {text}")


class DebugProxy:
    """One ``ov debug`` session: the WebSocket, the tunnel and the local GDB port.

    Example::

        proxy = DebugProxy(options)
        await proxy.open()            # handshake; raises DebugAuthError for a wrong key
        await proxy.serve_forever()   # relays GDB connections until cancelled
    """

    def __init__(self, options: ProxyOptions) -> None:
        self.options = options
        self.status = ProxyStatus()
        self._tunnel = ClientTunnel(options.private_key)
        self._ws: ClientConnection | None = None
        self._server: asyncio.Server | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._send_lock = asyncio.Lock()
        self.on_event: Callable[[str], None] | None = None

    async def open(self) -> None:
        """Connect to the relay, run the tunnel handshake and bind the GDB port."""
        url = relay_url(self.options.api_url, self.options.device)
        headers = {"Authorization": _basic_auth(self.options.key_sid, self.options.key_secret)}
        try:
            self._ws = await connect(
                url, additional_headers=headers, max_size=2**20, compression=None
            )
        except websockets.InvalidStatus as exc:
            raise DebugError(
                f"the cloud at {self.options.api_url} rejected the WebSocket upgrade of the debug relay "
                f"(HTTP {exc.response.status_code}): is it an openvisor cloud?"
            ) from exc
        except (OSError, websockets.InvalidHandshake) as exc:
            raise DebugError(
                f"cannot reach the debug relay at {url} ({exc}): start the cloud with "
                "`ov up` or pass --api-url"
            ) from exc

        try:
            await asyncio.wait_for(self._handshake(), self.options.handshake_timeout)
        except TimeoutError as exc:
            await self._ws.close()
            raise DebugError(
                f"device {self.options.device} did not respond to the debug handshake within "
                f"{self.options.handshake_timeout:.0f} s: is it online and running an app?"
            ) from exc
        except DebugError:
            await self._ws.close()
            raise

        self._server = await asyncio.start_server(
            self._serve_gdb, host=self.options.host, port=self.options.port
        )
        self.status.port = self._server.sockets[0].getsockname()[1]
        log.info(
            "Listen for GDB (device=%s, session=%s, port=%d)",
            self.options.device,
            self.status.session_sid,
            self.status.port,
        )

    async def _handshake(self) -> None:
        ws = self._ws
        assert ws is not None
        try:
            first = await ws.recv()
        except websockets.ConnectionClosed:
            raise _close_error(ws) from None
        if not isinstance(first, str):
            raise DebugError("the debug relay did not announce a session: protocol mismatch")
        announcement = json.loads(first)
        if "error" in announcement:
            raise _notice_error(announcement)
        self.status.session_sid = str(announcement.get("session", ""))

        await ws.send(self._tunnel.hello())
        device_hello = await self._recv_binary()
        await ws.send(self._tunnel.finish(device_hello))
        self._tunnel.confirm(await self._recv_binary())

    async def _recv_binary(self) -> bytes:
        ws = self._ws
        assert ws is not None
        while True:
            try:
                message = await ws.recv()
            except websockets.ConnectionClosed:
                raise _close_error(ws) from None
            if isinstance(message, bytes):
                return message
            notice = json.loads(message)
            if "error" in notice:
                raise _notice_error(notice)

    async def serve_forever(self) -> None:
        """Relay frames from the device to GDB until the relay closes or the task is cancelled."""
        assert self._server is not None
        async with self._server:
            await self._pump_device()

    async def _pump_device(self) -> None:
        while True:
            frame = await self._recv_binary()
            plaintext = self._tunnel.open(frame)
            self.status.frames_received += 1
            if not plaintext:
                continue
            if plaintext[0] == PLAIN_RSP and self._writer is not None:
                self._writer.write(plaintext[1:])
                await self._writer.drain()

    async def _send_plain(self, kind: int, body: bytes = b"") -> None:
        async with self._send_lock:
            assert self._ws is not None
            await self._ws.send(self._tunnel.seal(bytes([kind]) + body))
            self.status.frames_sent += 1

    async def _serve_gdb(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if self._writer is not None:
            log.warning("Refuse second GDB connection (peer=%s)", peer)
            writer.close()
            return
        self._writer = writer
        self.status.gdb_connections += 1
        self._emit(f"GDB connected from {peer[0]}:{peer[1]}")
        try:
            await self._send_plain(PLAIN_ATTACH)
            while True:
                data = await reader.read(READ_CHUNK)
                if not data:
                    break
                await self._send_plain(PLAIN_RSP, data)
        except (ConnectionError, websockets.ConnectionClosed) as exc:
            log.info("End GDB connection (peer=%s, error=%s)", peer, exc)
        finally:
            self._writer = None
            with contextlib.suppress(ConnectionError, websockets.ConnectionClosed):
                await self._send_plain(PLAIN_DETACH)
            writer.close()
            self._emit("GDB disconnected")

    def _emit(self, text: str) -> None:
        self.status.events.append(f"{time.strftime('%H:%M:%S')} {text}")
        if self.on_event is not None:
            self.on_event(text)

    async def close(self) -> None:
        """Close the GDB port and the relay connection."""
        if self._server is not None:
            self._server.close()
        if self._ws is not None:
            await self._ws.close()
