"""A device whose app GDB halted stays online: an update offered meanwhile downloads and stages.

The demo firmware v1 runs under the microvisor with OTA and an in-memory cloud
link. A GDB client speaks the remote serial protocol to the local stub over a
loopback socket and halts the app. The cloud then offers v2, served over
loopback HTTP. The download, verification and staging finish while the app
stays halted (same PC, same cycle count, no restart); the update applies only
once the debugger resumes the app or detaches.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from openvisor.bundle import (
    ManifestOptions,
    PrivateKeySigner,
    TrustStore,
    build_app_body,
    build_image,
    build_opaque_manifest,
    write_bundle,
)
from openvisor.device import Device, DeviceConfig
from openvisor.gdb import serve_local
from openvisor.kernel.abi import KERNEL_VERSION, MvWakeReason
from openvisor.link import messages
from openvisor.link.memory import MemoryHub
from openvisor.ota import OtaManager, UpdateStatus
from openvisor.ota.journal import load_journal

DEVICE_ID = "UV" + "7" * 32
PC_REGISTER = 0xF  # r15 in the M-profile target description


class BundleHost:
    """A loopback HTTP server for bundles that records when each request arrived."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, float]] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                host.requests.append((self.path, time.monotonic()))
                data = host.files.get(self.path)
                if data is None or self.headers.get("Range"):
                    self.send_response(404 if data is None else 416)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def add(self, path: str, data: bytes) -> str:
        """Publish ``data`` at ``path`` and return its URL."""
        self.files[path] = data
        return f"{self.base_url}{path}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class RspClient:
    """The GDB side of the remote serial protocol, with acknowledgements, over a socket."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self._buffer = b""

    def send(self, payload: str) -> None:
        checksum = sum(payload.encode()) % 256
        self.sock.sendall(f"${payload}#{checksum:02x}".encode())

    def interrupt(self) -> None:
        self.sock.sendall(b"\x03")

    def receive(self) -> str:
        """Return the next packet's payload, acknowledging it."""
        while True:
            start = self._buffer.find(b"$")
            end = self._buffer.find(b"#", start) if start >= 0 else -1
            if start >= 0 and end >= 0 and len(self._buffer) >= end + 3:
                payload = self._buffer[start + 1 : end]
                self._buffer = self._buffer[end + 3 :]
                self.sock.sendall(b"+")
                return payload.decode()
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError(
                    f"stub closed the connection (unread bytes: {self._buffer!r})"
                )
            self._buffer += chunk

    def ask(self, payload: str) -> str:
        self.send(payload)
        return self.receive()

    def pc(self) -> int:
        reply = self.ask(f"p{PC_REGISTER:x}")
        return int.from_bytes(bytes.fromhex(reply), "little")

    def close(self) -> None:
        self.sock.close()


def _bundle(
    firmware: Callable[[str], Path], name: str, signer: PrivateKeySigner
) -> tuple[bytes, str]:
    """Return a signed bundle of firmware ``name`` and its app id."""
    image = build_image(firmware(name))
    body = build_app_body(image, ManifestOptions(minimum_kernel_version=1))
    manifest = build_opaque_manifest(body, signer)
    return write_bundle(manifest, [image]), hashlib.sha256(body).hexdigest()


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.01)


@pytest.fixture
def host() -> Iterator[BundleHost]:
    server = BundleHost()
    yield server
    server.close()


@pytest.mark.parametrize("resume", ["continue", "detach"])
def test_update_stages_while_halted(
    tmp_path: Path,
    firmware: Callable[[str], Path],
    device_runner: Any,
    host: BundleHost,
    resume: str,
) -> None:
    signer = PrivateKeySigner.generate()
    trust = TrustStore()
    trust.add(signer.public_key, label="cloud")
    v1_bundle, v1_id = _bundle(firmware, "demo_v1", signer)
    v2_bundle, v2_id = _bundle(firmware, "demo_v2", signer)

    hub = MemoryHub()
    service = hub.service_link()
    reports: list[messages.Message] = []
    service.on_message(lambda _device_id, message: reports.append(message))
    service.start()
    link = hub.device_link(DEVICE_ID, state_dir=tmp_path / "device")
    link.start()
    ota = OtaManager(
        tmp_path / "device",
        kernel_version=KERNEL_VERSION,
        trust=trust,
        http_client=httpx.Client(timeout=10),
    )
    ota.install_local(v1_bundle)
    device = Device(
        tmp_path / "device", link=link, ota=ota, config=DeviceConfig(seed=7), device_id=DEVICE_ID
    )
    starts: list[tuple[str, MvWakeReason]] = []
    device.boot_listeners.append(
        lambda _count, wake: starts.append((device._boot_image.app_id, wake))
    )
    server = serve_local(device, 0)
    runner = device_runner(device)
    gdb = RspClient(server.port)
    try:
        assert gdb.ask("?").startswith(("S", "T")), "the app is not held for GDB"
        gdb.send("c")
        _wait(lambda: device.kernel.micros() > 300_000, 10, "the app running 0.3 virtual s")
        gdb.interrupt()
        stop = gdb.receive()
        assert stop.startswith(("S02", "T02")), stop
        pc = gdb.pc()
        cycles = device.machine.cycles
        assert starts == [(v1_id, MvWakeReason.COLDBOOT)]
        assert device.kernel.debugger_attached

        halted_at = time.monotonic()
        url = host.add("/bundles/v2.zip", v2_bundle)
        service.send(
            DEVICE_ID,
            messages.UpdateOffer(
                deployment_sid="DPH", bundle_sid="KAH", url=url, body={"app_hash": v2_id}
            ),
        )

        def staged_or_applied() -> bool:
            journal = load_journal(ota.journal_path)
            update = journal.update
            return journal.trial is not None or (update is not None and update.phase == "staged")

        _wait(staged_or_applied, 20, "staging the update while the app is halted")
        assert [path for path, at in host.requests if at > halted_at] == ["/bundles/v2.zip"]
        # The device keeps running its slices after the update is staged, and the
        # app stays where GDB halted it.
        later = device.kernel.micros() + 500_000
        _wait(lambda: device.kernel.micros() > later, 10, "0.5 virtual s passing while halted")
        assert starts == [(v1_id, MvWakeReason.COLDBOOT)], "the update applied while halted"
        assert gdb.pc() == pc
        assert device.machine.cycles == cycles
        assert device.kernel.debugger_attached
        # The update reports reached the cloud over the link while the app was halted.
        statuses = [
            message.body["status"]
            for message in reports
            if isinstance(message, messages.Report) and message.report_kind == "update"
        ]
        assert statuses == [UpdateStatus.DOWNLOADING.value, UpdateStatus.INSTALLED.value], reports

        if resume == "continue":
            gdb.send("c")
        else:
            assert gdb.ask("D") == "OK"
        _wait(lambda: len(starts) > 1, 10, f"applying the update after {resume}")
        assert starts[-1] == (v2_id, MvWakeReason.APPLICATIONUPDATE)
        assert load_journal(ota.journal_path).trial is not None
    finally:
        gdb.close()
        server.close()
    runner.stop()
